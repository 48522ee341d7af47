"""The simulator's ledger: every provider operation, keyed by its idempotency key, in SQLite.

It is what makes a double refund visible. Same key + same request → the stored result again
(`replayed`); same key + different material fields → `LedgerConflict`, as a real payment provider
answers. `attempts` counts the calls per key that reached the ledger, so tests and chaos runs can see
retries. One connection behind a lock: provider calls are few and SQLite answers in microseconds.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, Literal, get_args

from domain.money import Money

Kind = Literal["refund", "return_label", "shipment", "credit", "notification", "carrier_claim"]
KINDS: tuple[Kind, ...] = get_args(Kind)


@dataclass(frozen=True)
class KindSpec:
    """How one kind of operation is stored: its table, id column and the fields a key binds."""

    table: str
    id_column: str
    id_prefix: str
    columns: tuple[str, ...]  # request fields stored as columns; `amount` is stored as amount + currency
    material: tuple[str, ...]  # fields a reused key must repeat exactly (besides kind and case_id)


SPECS: dict[Kind, KindSpec] = {
    "refund": KindSpec(
        "refunds",
        "refund_id",
        "re",
        ("order_id", "amount", "payment_method", "reason", "status"),
        ("order_id", "amount", "currency", "payment_method"),
    ),
    "return_label": KindSpec(
        "return_labels", "label_id", "rl", ("payer", "carrier", "tracking_number"), ("payer", "carrier")
    ),
    "shipment": KindSpec(
        "shipments", "shipment_id", "sh", ("kind", "sku", "carrier", "tracking_number"), ("kind", "sku")
    ),
    "credit": KindSpec(
        "credits", "credit_id", "cr", ("kind", "amount", "status"), ("kind", "amount", "currency")
    ),
    "notification": KindSpec(
        "notifications",
        "notification_id",
        "nt",
        ("recipient_role", "template", "message", "status", "channel", "to_address"),
        ("recipient_role", "template"),
    ),
    # A claim against the carrier for a lost parcel (the simulator plays the carrier too).
    "carrier_claim": KindSpec(
        "carrier_claims", "claim_id", "cc", ("tracking_no", "carrier", "status"), ("tracking_no",)
    ),
}

SCHEMA = """
CREATE TABLE IF NOT EXISTS operations (
    idempotency_key TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    case_id TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    entry_id TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 1,
    created_at TEXT NOT NULL,
    last_attempt_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS ix_operations_case ON operations (case_id, kind);
CREATE TABLE IF NOT EXISTS refunds (
    refund_id TEXT PRIMARY KEY,
    idempotency_key TEXT NOT NULL UNIQUE REFERENCES operations (idempotency_key),
    case_id TEXT NOT NULL,
    order_id TEXT NOT NULL,
    amount TEXT NOT NULL,
    currency TEXT NOT NULL,
    payment_method TEXT NOT NULL,
    reason TEXT NOT NULL,
    status TEXT NOT NULL,
    created_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS ix_refunds_case ON refunds (case_id);
CREATE TABLE IF NOT EXISTS return_labels (
    label_id TEXT PRIMARY KEY,
    idempotency_key TEXT NOT NULL UNIQUE REFERENCES operations (idempotency_key),
    case_id TEXT NOT NULL,
    payer TEXT NOT NULL,
    carrier TEXT NOT NULL,
    tracking_number TEXT NOT NULL,
    created_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS shipments (
    shipment_id TEXT PRIMARY KEY,
    idempotency_key TEXT NOT NULL UNIQUE REFERENCES operations (idempotency_key),
    case_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    sku TEXT,
    carrier TEXT NOT NULL,
    tracking_number TEXT NOT NULL,
    created_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS credits (
    credit_id TEXT PRIMARY KEY,
    idempotency_key TEXT NOT NULL UNIQUE REFERENCES operations (idempotency_key),
    case_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    amount TEXT NOT NULL,
    currency TEXT NOT NULL,
    status TEXT NOT NULL,
    created_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS notifications (
    notification_id TEXT PRIMARY KEY,
    idempotency_key TEXT NOT NULL UNIQUE REFERENCES operations (idempotency_key),
    case_id TEXT NOT NULL,
    recipient_role TEXT NOT NULL,
    template TEXT NOT NULL,
    message TEXT NOT NULL,
    status TEXT NOT NULL,
    created_at TEXT NOT NULL,
    channel TEXT,
    to_address TEXT
);
CREATE TABLE IF NOT EXISTS carrier_claims (
    claim_id TEXT PRIMARY KEY,
    idempotency_key TEXT NOT NULL UNIQUE REFERENCES operations (idempotency_key),
    case_id TEXT NOT NULL,
    tracking_no TEXT NOT NULL,
    carrier TEXT NOT NULL,
    status TEXT NOT NULL,
    created_at TEXT NOT NULL
);
"""
# Columns added since a ledger file was first made (a kept `.local/simulator.db`).
ADDED_COLUMNS = (("notifications", "channel", "TEXT"), ("notifications", "to_address", "TEXT"))

DEFAULT_CARRIER = "SIM Express"


class LedgerConflict(Exception):
    """A key reused with a different request: answering the old result would hide a caller's bug."""

    def __init__(self, key: str, field: str) -> None:
        super().__init__(f"idempotency key {key!r} was first used with a different {field}")
        self.key = key
        self.field = field


@dataclass(frozen=True)
class Recorded:
    """The stored result of one operation and whether this call replayed it."""

    result: dict[str, Any]
    replayed: bool
    attempts: int


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="microseconds")


def _flatten(fields: dict[str, Any]) -> dict[str, Any]:
    """Money becomes two plain columns (exact decimal string + currency)."""
    flat = dict(fields)
    amount = flat.pop("amount", None)
    if amount is not None:
        money = amount if isinstance(amount, Money) else Money.model_validate(amount)
        flat["amount"] = format(money.amount, "f")
        flat["currency"] = money.currency
    return flat


class Ledger:
    """Thread-safe: one SQLite connection, one lock, and each write in its own transaction."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._db.row_factory = sqlite3.Row
        if path != ":memory:":
            self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA busy_timeout=5000")
        self._db.executescript(SCHEMA)
        for table, column, kind in ADDED_COLUMNS:
            known = {row[1] for row in self._db.execute(f"PRAGMA table_info({table})")}
            if column not in known:
                self._db.execute(f"ALTER TABLE {table} ADD COLUMN {column} {kind}")

    def close(self) -> None:
        with self._lock:
            self._db.close()

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    def record(self, kind: Kind, key: str, case_id: str, fields: dict[str, Any]) -> Recorded:
        """Store a new operation, or answer the one already stored under `key`.

        `fields` are the request's fields (an `amount` may be a Money or its JSON form). Raises
        `LedgerConflict` when the key was used for another kind, case or material field.
        """
        spec = SPECS[kind]
        flat = _flatten(fields)
        fingerprint = {name: flat.get(name) for name in spec.material}
        with self._transaction() as db:
            row = db.execute(
                "SELECT kind, case_id, fingerprint, entry_id, attempts FROM operations "
                "WHERE idempotency_key = ?",
                (key,),
            ).fetchone()
            if row is not None:
                if row["kind"] != kind:
                    raise LedgerConflict(key, "kind")
                if row["case_id"] != case_id:
                    raise LedgerConflict(key, "case_id")
                stored = json.loads(row["fingerprint"])
                for name in spec.material:
                    if stored.get(name) != fingerprint[name]:
                        raise LedgerConflict(key, name)
                db.execute(
                    "UPDATE operations SET attempts = attempts + 1, last_attempt_at = ? "
                    "WHERE idempotency_key = ?",
                    (_now(), key),
                )
                return Recorded(self._result(db, kind, row["entry_id"]), True, row["attempts"] + 1)
            now = _now()
            entry_id = f"{spec.id_prefix}_{uuid.uuid4().hex[:20]}"
            values = self._new_values(kind, flat)
            columns = [spec.id_column, "idempotency_key", "case_id", *values, "created_at"]
            db.execute(
                f"INSERT INTO {spec.table} ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})",
                (entry_id, key, case_id, *values.values(), now),
            )
            db.execute(
                "INSERT INTO operations (idempotency_key, kind, case_id, fingerprint, entry_id, "
                "created_at, last_attempt_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (key, kind, case_id, json.dumps(fingerprint, sort_keys=True), entry_id, now, now),
            )
            return Recorded(self._result(db, kind, entry_id), False, 1)

    @staticmethod
    def _new_values(kind: Kind, flat: dict[str, Any]) -> dict[str, Any]:
        """Column values of a new row: the request's, plus what the provider makes up."""
        values = {name: flat.get(name) for name in SPECS[kind].columns}
        if "currency" in flat:
            values["currency"] = flat["currency"]
        if kind == "refund":
            values.update(status="succeeded", reason=flat.get("reason") or "")
        elif kind in ("return_label", "shipment"):
            values.update(
                carrier=flat.get("carrier") or DEFAULT_CARRIER,
                tracking_number="SIM" + uuid.uuid4().hex[:12].upper(),
            )
        elif kind == "credit":
            values["status"] = "issued"
        elif kind == "notification":
            values.update(status="sent", to_address=flat.get("to"))
        elif kind == "carrier_claim":
            values.update(carrier=flat.get("carrier") or DEFAULT_CARRIER, status="opened")
        return values

    @staticmethod
    def _result(db: sqlite3.Connection, kind: Kind, entry_id: str) -> dict[str, Any]:
        spec = SPECS[kind]
        row = db.execute(f"SELECT * FROM {spec.table} WHERE {spec.id_column} = ?", (entry_id,)).fetchone()
        result = dict(row)
        if "to_address" in result:
            result["to"] = result.pop("to_address")
        if "currency" in result:
            result["amount"] = {"amount": result["amount"], "currency": result.pop("currency")}
        return result

    def get(self, key: str) -> dict[str, Any] | None:
        """The operation stored under `key` (any kind), with its kind and attempts."""
        with self._lock:
            row = self._db.execute("SELECT * FROM operations WHERE idempotency_key = ?", (key,)).fetchone()
            return None if row is None else self._entry(row)

    def get_refund(self, key: str) -> dict[str, Any] | None:
        """The refund stored under `key`: how a caller that did not hear back learns what happened."""
        entry = self.get(key)
        return None if entry is None or entry["kind"] != "refund" else entry["record"]

    def _entry(self, op: sqlite3.Row) -> dict[str, Any]:
        return {
            "kind": op["kind"],
            "idempotency_key": op["idempotency_key"],
            "case_id": op["case_id"],
            "attempts": op["attempts"],
            "created_at": op["created_at"],
            "last_attempt_at": op["last_attempt_at"],
            "record": self._result(self._db, op["kind"], op["entry_id"]),
        }

    def entries(self, case_id: str | None = None, kind: Kind | None = None) -> list[dict[str, Any]]:
        """Operations, oldest first, optionally of one case and/or one kind."""
        query, args = "SELECT * FROM operations WHERE 1 = 1", list[str]()
        if case_id is not None:
            query, args = query + " AND case_id = ?", [*args, case_id]
        if kind is not None:
            query, args = query + " AND kind = ?", [*args, kind]
        with self._lock:
            rows = self._db.execute(query + " ORDER BY created_at, rowid", args).fetchall()
            return [self._entry(row) for row in rows]

    def refund_counts(self) -> dict[str, int]:
        """Refunds per case: more than the case decided would be a double payment."""
        with self._lock:
            rows = self._db.execute("SELECT case_id, COUNT(*) FROM refunds GROUP BY case_id").fetchall()
        return {row[0]: row[1] for row in rows}

    def refund_count(self, case_id: str) -> int:
        with self._lock:
            row = self._db.execute("SELECT COUNT(*) FROM refunds WHERE case_id = ?", (case_id,)).fetchone()
        return int(row[0])

    def refund_summary(self) -> dict[str, dict[str, Any]]:
        """Per case: how many refunds and how much in total, per currency (exact decimals)."""
        with self._lock:
            rows = self._db.execute(
                "SELECT case_id, amount, currency FROM refunds ORDER BY case_id, created_at"
            ).fetchall()
        summary: dict[str, dict[str, Any]] = {}
        for case_id, amount, currency in rows:
            entry = summary.setdefault(case_id, {"refunds": 0, "totals": {}})
            entry["refunds"] += 1
            entry["totals"][currency] = entry["totals"].get(currency, Decimal(0)) + Decimal(amount)
        for entry in summary.values():
            entry["totals"] = [
                {"amount": format(total, "f"), "currency": currency}
                for currency, total in sorted(entry["totals"].items())
            ]
        return summary
