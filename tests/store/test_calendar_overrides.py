"""Calendar overrides: one per calendar, merchant scope and date; the latest change wins."""

from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy.orm import Session, sessionmaker

from store import calendars
from tests.store import factories as f


def test_overrides_are_kept_per_scope_and_date(db: sessionmaker[Session]) -> None:
    calendar, merchant = f.unique("cal"), f.unique("M")
    with db.begin() as session:
        calendars.add_calendar_override(session, calendar, None, date(2026, 10, 9), "closed", "typhoon")
        calendars.add_calendar_override(session, calendar, None, date(2026, 10, 11), "working", "make-up day")
        calendars.add_calendar_override(session, calendar, merchant, date(2026, 10, 9), "working", "open")
    with db.begin() as session:
        again = calendars.add_calendar_override(session, calendar, None, date(2026, 10, 9), "working", "")
        assert again.kind == "working"
    with db() as session:
        platform = calendars.list_calendar_overrides(session, calendar)
        assert [(r.date, r.kind, r.merchant_id) for r in platform] == [
            (date(2026, 10, 9), "working", None),
            (date(2026, 10, 11), "working", None),
        ]
        own = calendars.list_calendar_overrides(session, calendar, merchant)
        assert [(r.date, r.kind, r.note, r.merchant_id) for r in own] == [
            (date(2026, 10, 9), "working", "open", merchant)
        ]
        assert platform[0].created_at.tzinfo is not None


def test_an_unknown_kind_is_refused(db: sessionmaker[Session]) -> None:
    with db.begin() as session, pytest.raises(ValueError):
        calendars.add_calendar_override(session, "cn", None, date(2026, 10, 9), "holiday")
