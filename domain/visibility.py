"""Who may read what on a case (DESIGN §9): one rule for every read path. Pure.

Internal notes are for the platform's people only; a note to the customer is also read by the
backend that relays it, a note to the merchant by the merchant. Customer free text (under an event
payload's `private` key: reasons, statements, comments) is personal data: only the roles that see
personal data read it; merchants and ops read the event without it.
"""

from __future__ import annotations

from typing import Any

from domain.enums import Actor

PLATFORM_PEOPLE = frozenset({Actor.AGENT, Actor.SUPERVISOR, Actor.MANAGER, Actor.DISPUTE})
SEES_PERSONAL_DATA = PLATFORM_PEOPLE | {Actor.SYSTEM}
NOTE_READERS: dict[str, frozenset[Actor]] = {
    "internal": PLATFORM_PEOPLE,
    "customer": PLATFORM_PEOPLE | {Actor.SYSTEM},
    "merchant": PLATFORM_PEOPLE | {Actor.MERCHANT},
}
PRIVATE = "private"


def may_read_note(role: Actor, visibility: str) -> bool:
    return role in NOTE_READERS.get(visibility, PLATFORM_PEOPLE)


def event_as_seen_by(
    role: Actor, kind: str, summary: str, payload: dict[str, Any]
) -> tuple[str, dict[str, Any]]:
    """The summary and payload of an audit event as `role` may read them."""
    if kind == "note":
        visibility = str(payload.get("visibility") or "internal")
        if not may_read_note(role, visibility):
            return f"note ({visibility}, not shown)", {"visibility": visibility, "redacted": True}
        return summary, payload
    if PRIVATE in payload and role not in SEES_PERSONAL_DATA:
        shown = {key: value for key, value in payload.items() if key != PRIVATE}
        return summary, {**shown, "redacted": True}
    return summary, payload
