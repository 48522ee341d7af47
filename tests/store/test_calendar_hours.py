"""Stored working hours: one set per calendar and scope (platform or merchant); the latest write wins."""

from __future__ import annotations

from datetime import date

from sqlalchemy.orm import Session, sessionmaker

from activities.calendars import effective_hours, overrides_for, overrides_of
from store import calendars, cases, listing
from tests.store import factories as f
from tests.store.helpers import create, statements_sent

MORNINGS = {"mon": ["09:00-12:00"], "tue": ["09:00-12:00"]}


def test_a_merchants_hours_win_over_the_platforms_and_clearing_falls_back(db: sessionmaker[Session]) -> None:
    calendar, merchant = "business", f.unique("M")
    with db.begin() as session:
        calendars.set_calendar_hours(session, calendar, merchant, MORNINGS, None, "Asia/Shanghai", "mornings")
    with db.begin() as session:
        again = calendars.set_calendar_hours(session, calendar, merchant, {"sat": ["10:00-16:00"]})
        assert again.weekly == {"sat": ["10:00-16:00"]} and again.timezone is None
    with db() as session:
        hours = effective_hours(session, calendar, merchant)
        assert hours is not None and hours.weekly == {"sat": ["10:00-16:00"]}
        overrides = overrides_for(session, calendar, merchant)
        assert overrides is not None and overrides.weekly is not None and list(overrides.weekly) == [5]
    with db.begin() as session:
        assert calendars.clear_calendar_hours(session, calendar, merchant)
        assert not calendars.clear_calendar_hours(session, calendar, merchant)
        assert calendars.get_calendar_hours(session, calendar, merchant) is None


def test_platform_hours_apply_to_merchants_without_their_own(db: sessionmaker[Session]) -> None:
    calendar, merchant = f.unique("cal"), f.unique("M")
    with db.begin() as session:
        calendars.set_calendar_hours(session, calendar, None, MORNINGS)
        calendars.set_calendar_hours(session, calendar, None, MORNINGS, ["09:00-12:00"])
    with db() as session:
        hours = effective_hours(session, calendar, merchant)
        assert hours is not None and hours.workday_periods == ["09:00-12:00"]
        row = calendars.get_calendar_hours(session, calendar, None)
        assert row is not None and row.merchant_id is None and row.updated_at.tzinfo is not None


def test_a_case_start_reads_each_calendar_as_read_alone_in_two_queries(db: sessionmaker[Session]) -> None:
    shop, desk, bare, merchant, other = (f.unique(n) for n in ("shop", "desk", "bare", "M", "M"))
    with db.begin() as session:
        calendars.set_calendar_hours(session, shop, None, MORNINGS)
        calendars.set_calendar_hours(session, shop, merchant, {"sat": ["10:00-16:00"]})
        calendars.set_calendar_hours(session, desk, other, {"sun": ["10:00-16:00"]})
        calendars.add_calendar_override(session, shop, None, date(2026, 12, 24), "closed", "eve")
        calendars.add_calendar_override(session, shop, merchant, date(2026, 12, 26), "working", "sale")
        calendars.add_calendar_override(session, desk, other, date(2026, 12, 27), "closed", "not ours")
        calendars.add_calendar_override(session, desk, None, date(2026, 12, 28), "closed", "desk")
    with db() as session:
        with statements_sent(session) as statements:
            together = overrides_of(session, [shop, desk, bare], merchant)
        alone = {name: overrides_for(session, name, merchant) for name in (shop, desk, bare)}
    assert together == alone and len([s for s in statements if s.startswith("SELECT")]) == 2
    shop_days, desk_days = together[shop], together[desk]
    assert shop_days is not None and shop_days.weekly is not None and list(shop_days.weekly) == [5]
    assert shop_days.extra_closed_dates == [date(2026, 12, 24)]
    assert shop_days.extra_working_dates == [date(2026, 12, 26)]
    assert desk_days is not None and desk_days.weekly is None  # another merchant's hours do not apply
    assert desk_days.extra_closed_dates == [date(2026, 12, 28)] and together[bare] is None


def test_open_cases_are_selected_by_merchant_and_region(db: sessionmaker[Session]) -> None:
    merchant, south, north = f.unique("M"), f.unique("CN-GD"), f.unique("CN-BJ")

    def order(region: str) -> dict[str, object]:
        return f.case_request(merchant_id=merchant).order.model_dump(mode="json") | {"region": region}

    a, _ = create(db, f.case_request(merchant_id=merchant, order=order(south)))
    b, _ = create(db, f.case_request(merchant_id=merchant, order=order(south)))
    c, _ = create(db, f.case_request(merchant_id=merchant, order=order(north)))
    with db.begin() as session:
        row = cases.get_case(session, b)
        assert row is not None and row.region == south
        row.status = "closed"  # as the workflow's last store write leaves it
    with db() as session:
        assert listing.open_case_workflow_ids(session, region=south) == [f"case-{a}"]
        by_merchant = listing.open_case_workflow_ids(session, merchant_id=merchant)
        assert sorted(by_merchant) == sorted([f"case-{a}", f"case-{c}"])
        listed, _ = listing.list_cases(session, region=north)
        assert [r.case_id for r in listed] == [c]
