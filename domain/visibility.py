"""Who may read what on a case (DESIGN §9): one rule for every read path. Pure.

Internal notes are for the platform's people only; a note to the customer is also read by the
backend that relays it, a note to the merchant by the merchant. Customer free text (under an event
payload's `private` key: reasons, statements, comments) is personal data: only the roles that see
personal data read it; merchants and ops read the event without it.
"""

from __future__ import annotations

from typing import Any

from domain.enums import Actor
from domain.masking import mask_personal

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


def event_for_reader(
    role: Actor, kind: str, summary: str, payload: dict[str, Any]
) -> tuple[str, dict[str, Any]]:
    """What a reader of a feed of events (the event feed, a webhook) gets: `event_as_seen_by`, then,
    for a role that does not see personal data, any personal field left in the payload masked (as
    the case's own event list does). A note's readers were decided by its visibility."""
    summary, shown = event_as_seen_by(role, kind, summary, payload)
    if kind == "note" or role in SEES_PERSONAL_DATA:
        return summary, shown
    masked, _ = mask_personal(shown)
    return summary, dict(masked)


def needs_opening(role: Actor, kind: str) -> bool:
    """Whether a reader in `role` may see a sealed field of an event of this kind (else the feed
    need not open it: it would be left out or masked anyway)."""
    return kind == "note" or role in SEES_PERSONAL_DATA
