"""The worker's reads never take SQLite's writer turn.

On SQLite one writer writes at a time, and a worker's writers (the cases' store writes, the relays'
claims) take turns. A read that began as a writer queued behind them and held them up: 2,000 cases
opened at once stalled (calendar loads built two years of holidays while holding the turn, timed
out, were retried and held it again). So every read the worker does begins deferred (a snapshot).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path

import httpx
import pytest
from sqlalchemy import Engine, event
from sqlalchemy.orm import Session, sessionmaker

from activities import contracts as c
from activities.assignment import AssignmentActivities
from activities.calendars import CalendarActivities
from store.db import make_engine, make_session_factory
from store.migrate import upgrade
from workers.outbox_relay import OutboxRelay
from workers.webhook_relay import WebhookRelay


class NoNotifier:
    def notify(self, *_args: object, **_kwargs: object) -> None:
        raise AssertionError("nothing is due: nothing is sent")


@pytest.fixture
def sqlite(tmp_path: Path) -> Iterator[tuple[Engine, sessionmaker[Session], list[str]]]:
    url = f"sqlite:///{tmp_path / 'reads.db'}"
    upgrade(url)
    engine = make_engine(url)
    begun: list[str] = []

    @event.listens_for(engine, "before_cursor_execute")
    def seen(_conn: object, _cursor: object, statement: str, *_args: object) -> None:
        if statement.startswith("BEGIN"):
            begun.append(statement)

    yield engine, make_session_factory(engine), begun
    engine.dispose()


def test_loading_calendars_and_picking_an_assignee_only_read(
    sqlite: tuple[Engine, sessionmaker[Session], list[str]],
) -> None:
    _, sessions, begun = sqlite
    bundle = CalendarActivities(sessions).load_calendars(
        c.CalendarRequest(names=["business", "service_desk"], start=date(2026, 9, 1), days=90)
    )
    assert set(bundle.snapshots) == {"business", "service_desk"}
    pick = AssignmentActivities(sessions, timedelta(minutes=5)).pick_assignee(
        c.AssigneeRequest(case_id="AS-NONE", queue="general")
    )
    assert pick.person_id is None  # nobody is online
    assert begun and set(begun) == {"BEGIN"}, begun


def test_idle_relays_only_read(sqlite: tuple[Engine, sessionmaker[Session], list[str]]) -> None:
    _, sessions, begun = sqlite
    outbox_pass = OutboxRelay(sessions, NoNotifier()).run_once()
    assert outbox_pass.claimed == 0
    with httpx.Client() as client:
        webhook_pass = WebhookRelay(sessions, client).run_once()
    assert webhook_pass.queued == 0 and webhook_pass.lanes == 0
    assert begun and set(begun) == {"BEGIN"}, begun


def test_calendar_snapshots_are_built_once_per_span(
    sqlite: tuple[Engine, sessionmaker[Session], list[str]],
) -> None:
    """Cases opened the same day ask for the same span: the worker builds it once."""
    _, sessions, _ = sqlite
    loader = CalendarActivities(sessions)
    request = c.CalendarRequest(names=["business"], start=date(2026, 8, 3), days=400)
    first = loader.load_calendars(request).snapshots["business"]
    again = loader.load_calendars(request).snapshots["business"]
    assert again is first
    later = loader.load_calendars(request.model_copy(update={"start": date(2026, 8, 4)}))
    assert later.snapshots["business"] is not first
