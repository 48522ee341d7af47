"""Marks when a person was last seen (any authenticated request), for the `away` rule of presence.

A write per request would double the store's work, so each API process writes a person's mark at
most once per `interval`: the shown presence is then at most that much late, well inside the away
time (AFTERSALES_PRESENCE_AWAY_AFTER_SECONDS)."""

from __future__ import annotations

import logging
import time
from datetime import UTC, datetime

from fastapi.concurrency import run_in_threadpool
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from store import people

log = logging.getLogger(__name__)


class PresenceMarks:
    def __init__(self, sessions: sessionmaker[Session], away_after_seconds: float) -> None:
        self.sessions = sessions
        self.interval = min(15.0, away_after_seconds / 4)
        self._written: dict[str, float] = {}  # person → monotonic time of the last write

    async def seen(self, person_id: str) -> None:
        now = time.monotonic()
        if now - self._written.get(person_id, float("-inf")) < self.interval:
            return
        self._written[person_id] = now
        try:
            await run_in_threadpool(self._write, person_id, datetime.now(UTC))
        except SQLAlchemyError as err:  # a missed mark only shows someone away early; never fail a request
            self._written.pop(person_id, None)
            log.warning("could not mark %s as seen: %s", person_id, type(err).__name__)

    def _write(self, person_id: str, at: datetime) -> None:
        with self.sessions.begin() as session:
            people.mark_seen(session, person_id, at)
