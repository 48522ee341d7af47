"""The reply clock's store writes: the facts of a customer message's first-response clock, a limit
passed (breach or night violation, recorded once, with alerts queued in the outbox) and the answer."""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy.orm import Session, sessionmaker

from activities import contracts as c
from activities.definition import defn
from store import messages
from store.common import utcnow


class ConversationActivities:
    def __init__(self, sessions: sessionmaker[Session], wake_relay: Callable[[], None] | None = None) -> None:
        self._sessions = sessions
        self._wake_relay = wake_relay

    @defn(name=c.REPLY_CLOCK_STARTED)
    def started(self, facts: c.ReplyClockFacts) -> None:
        with self._sessions.begin() as session:
            messages.record_reply_facts(
                session,
                facts.message_id,
                facts.reply_due_at,
                facts.counts_on,
                facts.night,
                facts.night_due_at,
            )

    @defn(name=c.REPLY_CLOCK_DUE)
    def due(self, due: c.ReplyClockDue) -> c.ReplyClockStored:
        """The reply's time when the store has it already (its signal was lost), else None after
        recording the breach or violation once (a retry records nothing twice)."""
        with self._sessions.begin() as session:
            replied = messages.reply_clock_due(session, due.message_id, due.kind, due.due_at, utcnow())
        if replied is None and self._wake_relay is not None:
            self._wake_relay()
        return c.ReplyClockStored(replied_at=replied)

    @defn(name=c.REPLY_CLOCK_ANSWERED)
    def answered(self, answered: c.ReplyClockAnswered) -> None:
        with self._sessions.begin() as session:
            messages.record_answered(
                session,
                answered.message_id,
                answered.replied_at,
                answered.first_response_seconds,
                answered.breached,
                answered.night_violated,
            )
