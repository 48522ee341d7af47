"""Webhook subscriptions, their delivery lanes, deliveries and attempts (DESIGN §11).

A subscription remembers how far into the event feed it has queued deliveries (its cursor). The
relay's fan-out reads the feed from there, adds a delivery per matching event, marks the event's
lane (subscription × case) due and moves the cursor, all in one transaction. A relay then leases
due lanes (FOR UPDATE SKIP LOCKED on PostgreSQL, so several relays share them), sends each lane's
pending deliveries in order and stops at the first failure: a later event of a case never overtakes
an earlier one, while other cases go on. Everything is rows: a relay that dies leaves its lanes
leased until the lease ends, then another relay sends their heads again (at least once).

Signing secrets are sealed at rest by the codec key ring (store.vault), bound to their subscription.
"""

from __future__ import annotations

import secrets as random_tokens
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import case, delete, exists, func, insert, select, tuple_, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from domain.models import OutboxMessage
from domain.webhooks import SECRET_BYTES, secret_of
from store import feed, outbox
from store.listing import decode_cursor, encode_cursor
from store.models import (
    WebhookAttemptRow,
    WebhookChangeRow,
    WebhookDeliveryRow,
    WebhookLaneRow,
    WebhookSubscriptionRow,
)
from store.personal import vault_of
from store.vault import WrappedKey

PENDING, DELIVERED, FAILED = "pending", "delivered", "failed"
MAX_EXCERPT = 500  # characters of an endpoint's answer kept per attempt
NOTIFIED_ROLES = ("ops", "supervisor")


def _owner(subscription_id: str) -> str:
    return f"webhook/{subscription_id}"


def new_secret() -> str:
    """A fresh signing secret (whsec_ and base64 of 32 random bytes)."""
    return secret_of(random_tokens.token_bytes(SECRET_BYTES))


def new_subscription_id() -> str:
    return "wh_" + random_tokens.token_hex(8)


def record_change(
    session: Session, subscription_id: str, actor: str, action: str, now: datetime, **detail: Any
) -> None:
    session.add(
        WebhookChangeRow(subscription_id=subscription_id, at=now, actor=actor, action=action, detail=detail)
    )


def changes_of(session: Session, subscription_id: str, limit: int = 50) -> list[WebhookChangeRow]:
    """The subscription's audit, newest first."""
    return list(
        session.scalars(
            select(WebhookChangeRow)
            .where(WebhookChangeRow.subscription_id == subscription_id)
            .order_by(WebhookChangeRow.id.desc())
            .limit(limit)
        )
    )


def create_subscription(
    session: Session,
    *,
    url: str,
    event_kinds: Sequence[str],
    description: str,
    enabled: bool,
    actor: str,
    now: datetime,
) -> tuple[WebhookSubscriptionRow, str]:
    """A new subscription and its secret (the only time the secret is shown). It hears the events
    recorded from now on: its cursor starts at the feed's head."""
    subscription_id = new_subscription_id()
    secret = new_secret()
    sealed = vault_of(session).seal_secret(secret, _owner(subscription_id))
    txid, event_id = feed.head(session)
    row = WebhookSubscriptionRow(
        id=subscription_id,
        url=url,
        description=description,
        event_kinds=sorted(set(event_kinds)),
        enabled=enabled,
        secret_key_id=sealed.key_id,
        secret_wrapped=sealed.wrapped,
        cursor_txid=txid,
        cursor_id=event_id,
        created_at=now,
        updated_at=now,
    )
    session.add(row)
    record_change(session, subscription_id, actor, "created", now, url=url, event_kinds=row.event_kinds)
    session.flush()
    return row, secret


def get_subscription(session: Session, subscription_id: str) -> WebhookSubscriptionRow | None:
    return session.get(WebhookSubscriptionRow, subscription_id)


def list_subscriptions(session: Session) -> list[WebhookSubscriptionRow]:
    return list(session.scalars(select(WebhookSubscriptionRow).order_by(WebhookSubscriptionRow.created_at)))


def update_subscription(
    session: Session, row: WebhookSubscriptionRow, changes: dict[str, Any], actor: str, now: datetime
) -> None:
    """Change url, event_kinds, description or enabled; enabling clears the reason it was disabled."""
    for key, value in changes.items():
        setattr(row, key, sorted(set(value)) if key == "event_kinds" else value)
    if changes.get("enabled"):
        row.disabled_reason = None
    row.updated_at = now
    record_change(session, row.id, actor, "updated", now, **changes)
    session.flush()


def delete_subscription(session: Session, row: WebhookSubscriptionRow, actor: str, now: datetime) -> None:
    """Gone with its lanes, deliveries and attempts; its audit stays."""
    for table in (WebhookAttemptRow, WebhookDeliveryRow, WebhookLaneRow):
        session.execute(delete(table).where(table.subscription_id == row.id))
    record_change(session, row.id, actor, "deleted", now, url=row.url)
    session.delete(row)
    session.flush()


def rotate_secret(
    session: Session, row: WebhookSubscriptionRow, overlap: timedelta, actor: str, now: datetime
) -> str:
    """A new secret; the current one keeps signing beside it until `now + overlap` (0: not at all)."""
    secret = new_secret()
    sealed = vault_of(session).seal_secret(secret, _owner(row.id))
    row.previous_key_id, row.previous_wrapped = row.secret_key_id, row.secret_wrapped
    row.previous_until = now + overlap
    row.secret_key_id, row.secret_wrapped = sealed.key_id, sealed.wrapped
    row.updated_at = now
    record_change(
        session, row.id, actor, "secret_rotated", now, previous_signs_until=row.previous_until.isoformat()
    )
    session.flush()
    return secret


def signing_secrets(session: Session, row: WebhookSubscriptionRow, now: datetime) -> list[str]:
    """The secrets that sign now: the current one, and the previous one during a rotation's overlap."""
    vault = vault_of(session)
    found = [vault.open_secret(WrappedKey(row.secret_key_id, row.secret_wrapped), _owner(row.id))]
    if row.previous_wrapped and row.previous_key_id and row.previous_until and row.previous_until > now:
        previous = WrappedKey(row.previous_key_id, row.previous_wrapped)
        found.append(vault.open_secret(previous, _owner(row.id)))
    return found


def secrets_by_sealing_key(session: Session) -> dict[str, int]:
    """How many signing secrets (each subscription's, and a previous one it keeps) each codec key
    seals: a codec key that seals none, and wraps no case's data key, can be retired."""
    sub = WebhookSubscriptionRow
    counts: Counter[str] = Counter()
    current = select(sub.secret_key_id, func.count()).group_by(sub.secret_key_id)
    previous = (
        select(sub.previous_key_id, func.count())
        .where(sub.previous_key_id.is_not(None), sub.previous_wrapped.is_not(None))
        .group_by(sub.previous_key_id)
    )
    for key_id, count in [*session.execute(current), *session.execute(previous)]:
        counts[str(key_id)] += int(count)
    return dict(counts)


def reseal_secrets(session: Session, limit: int = 500) -> int:
    """Re-seal, with the current codec key, the signing secrets of up to `limit` subscriptions that
    have one sealed by another key; returns how many. The secrets stay the same (receivers notice
    nothing). Call it until it returns 0."""
    vault = vault_of(session)
    sub, current = WebhookSubscriptionRow, vault.current_key_id
    stale_previous = (sub.previous_wrapped.is_not(None)) & (sub.previous_key_id != current)
    rows = session.scalars(
        select(sub)
        .where((sub.secret_key_id != current) | stale_previous)
        .order_by(sub.id)
        .limit(limit)
        .with_for_update()
    ).all()
    for row in rows:
        owner = _owner(row.id)
        if row.secret_key_id != current:
            sealed = vault.reseal_secret(WrappedKey(row.secret_key_id, row.secret_wrapped), owner)
            row.secret_key_id, row.secret_wrapped = sealed.key_id, sealed.wrapped
        if row.previous_wrapped and row.previous_key_id and row.previous_key_id != current:
            sealed = vault.reseal_secret(WrappedKey(row.previous_key_id, row.previous_wrapped), owner)
            row.previous_key_id, row.previous_wrapped = sealed.key_id, sealed.wrapped
    session.flush()
    return len(rows)


def redeliver_from(
    session: Session, row: WebhookSubscriptionRow, position: feed.Position, actor: str, now: datetime
) -> None:
    """Replay: the fan-out queues every matching event after `position` again (at least once: a
    receiver dedupes by webhook-id)."""
    row.cursor_txid, row.cursor_id = position
    row.updated_at = now
    record_change(session, row.id, actor, "redelivery", now, cursor=feed.encode_position(position))
    session.flush()


# --- the relay's side ---------------------------------------------------------------------------


def _upsert_lanes(session: Session, keys: set[tuple[str, str]], now: datetime) -> None:
    """Mark lanes due (a lane waiting for a retry keeps its time: its head goes first)."""
    if not keys:
        return
    dialect = session.get_bind().dialect.name
    insert = pg_insert if dialect == "postgresql" else sqlite_insert
    statement = insert(WebhookLaneRow).values(
        [{"subscription_id": s, "case_id": c, "next_attempt_at": now} for s, c in sorted(keys)]
    )
    statement = statement.on_conflict_do_update(
        index_elements=["subscription_id", "case_id"],
        set_={
            "next_attempt_at": func.coalesce(
                WebhookLaneRow.next_attempt_at, statement.excluded.next_attempt_at
            )
        },
    )
    session.execute(statement)


def any_enabled(session: Session) -> bool:
    """Whether any subscription is enabled (a read: without one a relay has nothing to do)."""
    found = session.scalar(
        select(WebhookSubscriptionRow.id).where(WebhookSubscriptionRow.enabled.is_(True)).limit(1)
    )
    return found is not None


def fan_out(session: Session, now: datetime, limit: int) -> int:
    """Queue the feed's new events for every enabled subscription (up to `limit` each); returns how
    many deliveries were added. Subscriptions another relay is fanning out are skipped."""
    subscriptions = session.scalars(
        select(WebhookSubscriptionRow)
        .where(WebhookSubscriptionRow.enabled.is_(True))
        .order_by(WebhookSubscriptionRow.id)
        .with_for_update(skip_locked=True)
    ).all()
    added = 0
    for sub in subscriptions:
        rows = feed.read_rows(
            session, (sub.cursor_txid, sub.cursor_id), limit=limit, kinds=sub.event_kinds or None
        )
        if not rows:
            continue
        session.execute(
            insert(WebhookDeliveryRow),
            [
                {
                    "subscription_id": sub.id,
                    "case_id": event.case_id,
                    "event_id": event.id,
                    "status": PENDING,
                    "attempts": 0,
                    "created_at": now,
                }
                for event in rows
            ],
        )
        _upsert_lanes(session, {(sub.id, event.case_id) for event in rows}, now)
        sub.cursor_txid, sub.cursor_id = rows[-1].txid, rows[-1].id
        added += len(rows)
    session.flush()
    return added


@dataclass(frozen=True)
class Lane:
    subscription_id: str
    case_id: str


def claim_lanes(session: Session, now: datetime, limit: int, lease: timedelta) -> list[Lane]:
    """Lease up to `limit` due lanes of enabled subscriptions, longest due first."""
    rows = session.execute(
        select(WebhookLaneRow.subscription_id, WebhookLaneRow.case_id)
        .join(WebhookSubscriptionRow, WebhookSubscriptionRow.id == WebhookLaneRow.subscription_id)
        .where(
            WebhookSubscriptionRow.enabled.is_(True),
            WebhookLaneRow.next_attempt_at <= now,
            (WebhookLaneRow.claimed_until.is_(None)) | (WebhookLaneRow.claimed_until <= now),
        )
        .order_by(WebhookLaneRow.next_attempt_at)
        .limit(limit)
        .with_for_update(skip_locked=True, of=WebhookLaneRow)
    ).all()
    lanes = [Lane(subscription_id, case_id) for subscription_id, case_id in rows]
    if lanes:
        key = tuple_(WebhookLaneRow.subscription_id, WebhookLaneRow.case_id)
        session.execute(
            update(WebhookLaneRow)
            .where(key.in_([(lane.subscription_id, lane.case_id) for lane in lanes]))
            .values(claimed_until=now + lease)
        )
    return lanes


@dataclass(frozen=True)
class Pending:
    delivery_id: int
    event_id: int
    attempts: int


def pending_of_lanes(session: Session, lanes: Sequence[Lane], per_lane: int) -> dict[Lane, list[Pending]]:
    """The pending deliveries of several lanes, oldest first, at most `per_lane` each (one query)."""
    found: dict[Lane, list[Pending]] = {lane: [] for lane in lanes}
    for subscription_id in {lane.subscription_id for lane in lanes}:
        case_ids = [lane.case_id for lane in lanes if lane.subscription_id == subscription_id]
        rows = session.execute(
            select(
                WebhookDeliveryRow.case_id,
                WebhookDeliveryRow.id,
                WebhookDeliveryRow.event_id,
                WebhookDeliveryRow.attempts,
            )
            .where(
                WebhookDeliveryRow.subscription_id == subscription_id,
                WebhookDeliveryRow.case_id.in_(case_ids),
                WebhookDeliveryRow.status == PENDING,
            )
            .order_by(WebhookDeliveryRow.id)
        )
        for case_id, delivery_id, event_id, attempts in rows:
            items = found[Lane(subscription_id, case_id)]
            if len(items) < per_lane:
                items.append(Pending(delivery_id, event_id, attempts))
    return found


@dataclass
class PassOutcome:
    """What one relay pass did, written back in one short transaction (record_pass)."""

    attempts: list[dict[str, Any]] = field(default_factory=list)  # webhook_attempts rows
    delivered: list[int] = field(default_factory=list)  # delivery ids
    failed: list[int] = field(default_factory=list)  # failed, to be retried
    given_up: list[int] = field(default_factory=list)  # failed for the last time
    disabled: dict[str, str] = field(default_factory=dict)  # subscription id -> reason
    releases: dict[Lane, datetime | None] = field(default_factory=dict)  # lane -> its retry time


def record_pass(session: Session, outcome: PassOutcome, now: datetime) -> None:
    """A pass's attempts, deliveries, give-ups and lane releases in a few statements: a writing
    transaction holds the event feed back while it is open (store.feed), so this one is short."""
    if outcome.attempts:
        session.execute(insert(WebhookAttemptRow), outcome.attempts)
    statuses = ((outcome.delivered, DELIVERED), (outcome.failed, PENDING), (outcome.given_up, FAILED))
    for ids, status in statuses:
        if ids:
            values: dict[str, Any] = {"status": status, "attempts": WebhookDeliveryRow.attempts + 1}
            if status == DELIVERED:
                values["delivered_at"] = now
            session.execute(
                update(WebhookDeliveryRow)
                .where(WebhookDeliveryRow.id.in_(ids), WebhookDeliveryRow.status == PENDING)
                .values(**values)
            )
    for subscription_id, reason in outcome.disabled.items():
        disable(session, subscription_id, reason, now)
    release_lanes(session, outcome.releases, now)


def release_lanes(session: Session, releases: dict[Lane, datetime | None], now: datetime) -> None:
    """Give lanes back: due at their retry time (their head failed), else at once if anything is
    pending (queued meanwhile, or left for the next pass), else not due.

    The lanes are locked first, in key order (the fan-out upserts them in the same order: no
    deadlock); the statement that looks for pending deliveries comes after, so on PostgreSQL it
    sees every delivery a fan-out committed while it waited for a lock."""
    if not releases:
        return
    keys = sorted((lane.subscription_id, lane.case_id) for lane in releases)
    key = tuple_(WebhookLaneRow.subscription_id, WebhookLaneRow.case_id)
    session.execute(
        select(WebhookLaneRow.subscription_id)
        .where(key.in_(keys))
        .order_by(WebhookLaneRow.subscription_id, WebhookLaneRow.case_id)
        .with_for_update()
    ).all()
    free = [(lane.subscription_id, lane.case_id) for lane, retry_at in releases.items() if retry_at is None]
    if free:
        pending = exists().where(
            WebhookDeliveryRow.subscription_id == WebhookLaneRow.subscription_id,
            WebhookDeliveryRow.case_id == WebhookLaneRow.case_id,
            WebhookDeliveryRow.status == PENDING,
        )
        session.execute(
            update(WebhookLaneRow)
            .where(key.in_(free))
            .values(claimed_until=None, next_attempt_at=case((pending, now), else_=None))
        )
    for lane, retry_at in releases.items():
        if retry_at is not None:
            session.execute(
                update(WebhookLaneRow)
                .where(
                    WebhookLaneRow.subscription_id == lane.subscription_id,
                    WebhookLaneRow.case_id == lane.case_id,
                )
                .values(claimed_until=None, next_attempt_at=retry_at)
            )


def disable(session: Session, subscription_id: str, reason: str, now: datetime) -> None:
    """Disable a subscription that keeps failing, tell ops and the supervisors (through the outbox),
    and audit it."""
    row = session.get(WebhookSubscriptionRow, subscription_id, with_for_update=True)
    if row is None or not row.enabled:
        return
    row.enabled, row.disabled_reason, row.updated_at = False, reason, now
    record_change(session, subscription_id, "system:webhook-relay", "disabled", now, reason=reason)
    key = f"webhook-disabled:{subscription_id}:{now.isoformat()}"
    text = f"Webhook subscription {subscription_id} ({row.url}) was disabled: {reason}"
    outbox.add_messages(
        session,
        [
            OutboxMessage(
                idempotency_key=f"{key}:{role}",
                case_id=None,
                recipient_role=role,
                template="webhook_disabled",
                message=text,
            )
            for role in NOTIFIED_ROLES
        ],
        now,
    )


def attempts_page(
    session: Session, subscription_id: str, limit: int, cursor: str | None
) -> tuple[list[WebhookAttemptRow], str | None]:
    """A subscription's attempts, newest first, keyset-paginated on (at, id)."""
    query = select(WebhookAttemptRow).where(WebhookAttemptRow.subscription_id == subscription_id)
    if cursor:
        _, last = decode_cursor(cursor)
        if not last.isdigit():
            raise ValueError("cursor is not one this API returned")
        query = query.where(WebhookAttemptRow.id < int(last))
    rows = list(session.scalars(query.order_by(WebhookAttemptRow.id.desc()).limit(limit + 1)))
    next_cursor = encode_cursor(rows[limit - 1].at, str(rows[limit - 1].id)) if len(rows) > limit else None
    return rows[:limit], next_cursor


@dataclass(frozen=True)
class Backlog:
    pending: int
    oldest_created_at: datetime | None


def backlog(session: Session) -> Backlog:
    count, oldest = session.execute(
        select(func.count(), func.min(WebhookDeliveryRow.created_at)).where(
            WebhookDeliveryRow.status == PENDING
        )
    ).one()
    return Backlog(int(count or 0), oldest)


def pending_count(session: Session, subscription_id: str) -> int:
    return int(
        session.scalar(
            select(func.count()).where(
                WebhookDeliveryRow.subscription_id == subscription_id, WebhookDeliveryRow.status == PENDING
            )
        )
        or 0
    )
