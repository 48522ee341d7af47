"""The simulator's ledger: every provider operation, keyed by its idempotency key, in SQLite.

Same key + same request → the stored result again (`replayed`); same key + different material
fields → a conflict, as a real payment provider answers. `attempts` counts calls per key, so tests
and chaos runs can see retries.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import uuid
from datetime import UTC, datetime
from typing import Any


class LedgerConflict(Exception):
    def __init__(self, key: str, field: str) -> None:
        super().__init__(f"idempotency key {key!r} was used with a different {field}")
        self.key = key
        self.field = field


SCHEMA = """
CREATE TABLE IF NOT EXISTS entries (
    idempotency_key TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    case_id TEXT NOT NULL,
    request TEXT NOT NULL,
    result TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 1,
    created_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS ix_entries_case ON entries (case_id, kind);
"""


class Ledger:
    def __init__(self, path: str) -> None:
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.executescript(SCHEMA)
        self._lock = threading.Lock()

    def record(
        self, key: str, kind: str, case_id: str, request: dict[str, Any], material: tuple[str, ...]
    ) -> tuple[dict[str, Any], bool]:
        """Store a new operation or return the one stored under `key`; (result, replayed)."""
        with self._lock:
            row = self._db.execute(
                "SELECT kind, case_id, request, result FROM entries WHERE idempotency_key = ?", (key,)
            ).fetchone()
            if row is not None:
                stored_request = json.loads(row[2])
                if row[0] != kind:
                    raise LedgerConflict(key, "kind")
                if row[1] != case_id:
                    raise LedgerConflict(key, "case_id")
                for field in material:
                    if stored_request.get(field) != request.get(field):
                        raise LedgerConflict(key, field)
                self._db.execute(
                    "UPDATE entries SET attempts = attempts + 1 WHERE idempotency_key = ?", (key,)
                )
                return {**json.loads(row[3]), "replayed": True}, True
            now = datetime.now(UTC).isoformat()
            result = {
                "id": f"{kind[:3]}_{uuid.uuid4().hex[:16]}",
                "kind": kind,
                "case_id": case_id,
                "idempotency_key": key,
                "created_at": now,
                **request,
            }
            if kind in ("return_label", "shipment"):
                result["tracking_no"] = "SIM" + uuid.uuid4().hex[:12].upper()
            if kind == "refund":
                result["status"] = "succeeded"
            self._db.execute(
                "INSERT INTO entries (idempotency_key, kind, case_id, request, result, created_at) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                (key, kind, case_id, json.dumps(request), json.dumps(result), now),
            )
            return {**result, "replayed": False}, False

    def get(self, key: str) -> dict[str, Any] | None:
        with self._lock:
            row = self._db.execute(
                "SELECT result, attempts FROM entries WHERE idempotency_key = ?", (key,)
            ).fetchone()
        return None if row is None else {**json.loads(row[0]), "attempts": row[1]}

    def entries(self, case_id: str | None = None, kind: str | None = None) -> list[dict[str, Any]]:
        query, args = "SELECT result, attempts FROM entries WHERE 1=1", list[str]()
        if case_id:
            query, args = query + " AND case_id = ?", [*args, case_id]
        if kind:
            query, args = query + " AND kind = ?", [*args, kind]
        with self._lock:
            rows = self._db.execute(query + " ORDER BY created_at", args).fetchall()
        return [{**json.loads(r[0]), "attempts": r[1]} for r in rows]

    def refund_summary(self) -> dict[str, dict[str, Any]]:
        with self._lock:
            rows = self._db.execute(
                "SELECT case_id, result FROM entries WHERE kind = 'refund' ORDER BY created_at"
            ).fetchall()
        summary: dict[str, dict[str, Any]] = {}
        for case_id, result in rows:
            amount = json.loads(result)["amount"]
            entry = summary.setdefault(case_id, {"refunds": 0, "amounts": []})
            entry["refunds"] += 1
            entry["amounts"].append(amount)
        return summary
