"""`aftersales calendar add | hours set | show | clear`: calendar changes through the same service as
the API (services.calendar_admin): stored, then signalled to the open cases they affect (all, or one
merchant's), whose deadlines move. Exit 2 when Temporal cannot be reached or refuses a signal: the
change is stored, and running the command again (it is idempotent) tells every case in scope."""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Callable, Coroutine
from datetime import date, timedelta
from typing import Any, TypeVar

from sqlalchemy.orm import Session, sessionmaker
from temporalio.client import Client

from cli.common import for_merchant
from core.settings import get_settings
from core.temporal import connect
from domain.calendar_source import DEFAULT_CALENDARS, WEEKDAYS, WorkingHours
from services.calendar_admin import Applied, CalendarAdmin, HoursCleared

T = TypeVar("T")


def register(areas: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    calendar = areas.add_parser("calendar", help="calendar overrides").add_subparsers(
        dest="command", required=True
    )
    add = calendar.add_parser("add", help="add a closed (holiday) or extra working day")
    add.add_argument("--date", type=date.fromisoformat, required=True)
    add.add_argument("--kind", choices=["closed", "working"], default="closed")
    _scope(add)
    add.add_argument("--note", default="")
    _no_signal(add)
    add.set_defaults(run=_add)
    hours = calendar.add_parser("hours", help="working hours of a merchant or the platform")
    hours_cmd = hours.add_subparsers(dest="hours_command", required=True)
    put = hours_cmd.add_parser("set", help="replace the working hours (days not given are closed)")
    put.add_argument("--day", action="append", required=True, metavar="DAY=HH:MM-HH:MM[,HH:MM-HH:MM]")
    put.add_argument("--workday", help="hours of a make-up working day, e.g. 09:00-18:00")
    put.add_argument("--timezone")
    put.add_argument("--note", default="")
    _no_signal(put)
    _scope(put)
    put.set_defaults(run=lambda args, sessions: _set(args, sessions, put))
    show = hours_cmd.add_parser("show", help="the hours that apply")
    _scope(show)
    show.set_defaults(run=_show)
    clear = hours_cmd.add_parser("clear", help="back to the platform's (or the standard) hours")
    _no_signal(clear)
    _scope(clear)
    clear.set_defaults(run=_clear)


def _add(args: argparse.Namespace, sessions: sessionmaker[Session]) -> int:
    applied = _apply(
        sessions,
        lambda admin: admin.add_override(
            args.calendar, args.date, args.kind, args.merchant, args.note, signal=not args.no_signal
        ),
    )
    print(f"{args.calendar}: {args.date} is now {args.kind}{for_merchant(args.merchant)}")
    return _told(applied)


def _set(args: argparse.Namespace, sessions: sessionmaker[Session], parser: argparse.ArgumentParser) -> int:
    try:
        hours = WorkingHours(weekly=_weekly(args.day), timezone=args.timezone,
                             workday_periods=[args.workday] if args.workday else None)  # fmt: skip
    except ValueError as err:
        parser.error(str(err))
    applied = _apply(
        sessions,
        lambda admin: admin.set_hours(
            args.calendar, hours, args.merchant, args.note, signal=not args.no_signal
        ),
    )
    print(f"{args.calendar}{for_merchant(args.merchant)}: {_describe(hours)}")
    return _told(applied)


def _show(args: argparse.Namespace, sessions: sessionmaker[Session]) -> int:
    found = _admin(sessions).hours(args.calendar, args.merchant)
    standard = f"standard hours: {DEFAULT_CALENDARS[args.calendar]}"
    print(
        f"{args.calendar}{for_merchant(args.merchant)}: {_describe(found.hours) if found.hours else standard}"
    )
    return 0


def _clear(args: argparse.Namespace, sessions: sessionmaker[Session]) -> int:
    applied: Applied[HoursCleared] = _apply(
        sessions, lambda admin: admin.clear_hours(args.calendar, args.merchant, signal=not args.no_signal)
    )
    state = "stored hours removed" if applied.result.removed else "no working hours stored"
    print(f"{args.calendar}{for_merchant(args.merchant)}: {state}")
    if args.no_signal:
        return 0 if applied.result.removed else 1
    # Nothing stored may mean an earlier run cleared them and could not tell the cases: they were told
    # anyway, so running the command again completes it.
    return _told(applied)


def _admin(sessions: sessionmaker[Session]) -> CalendarAdmin:
    settings = get_settings()

    async def temporal() -> Client:
        return await connect(settings)

    return CalendarAdmin(sessions, temporal, timedelta(seconds=settings.workflow_rpc_timeout_seconds))


def _apply(
    sessions: sessionmaker[Session], change: Callable[[CalendarAdmin], Coroutine[Any, Any, Applied[T]]]
) -> Applied[T]:
    return asyncio.run(change(_admin(sessions)))


def _told(applied: Applied[Any]) -> int:
    """0 when every open case in scope was told (or none was to be); 2 when some could not be."""
    outcome = applied.outcome
    if outcome is None:
        return 0
    if outcome.complete:
        print(f"running cases told: {outcome.signalled}; already closed: {outcome.skipped}")
        return 0
    address = get_settings().temporal_address
    counts = f"{outcome.failed} not signalled, {outcome.signalled} were"
    print(
        f"stored, but running cases were not told ({counts}): Temporal at {address}: {outcome.error}; "
        "run the command again (it is idempotent) when Temporal is up",
        file=sys.stderr,
    )
    return 2


def _scope(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--calendar", choices=list(DEFAULT_CALENDARS), default="business")
    parser.add_argument("--merchant", help="one merchant's (default: platform-wide)")


def _no_signal(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--no-signal", action="store_true", help="store only; running cases keep deadlines")


def _weekly(days: list[str]) -> dict[str, list[str]]:
    """["mon=09:00-12:00,13:30-18:00", "sat=10:00-16:00"] → {"mon": [...], "sat": [...]}."""
    weekly: dict[str, list[str]] = {}
    for text in days:
        day, sep, periods = text.partition("=")
        if not sep or day.strip().lower() not in WEEKDAYS:
            raise ValueError(f"--day {text!r}: expected DAY=HH:MM-HH:MM[,...] with DAY one of {WEEKDAYS}")
        weekly.setdefault(day.strip().lower(), []).extend(p.strip() for p in periods.split(",") if p.strip())
    return weekly


def _describe(hours: WorkingHours) -> str:
    days = "; ".join(f"{day} {', '.join(periods)}" for day, periods in hours.weekly.items())
    zone = f" ({hours.timezone})" if hours.timezone else ""
    makeup = f"; make-up days {', '.join(hours.workday_periods)}" if hours.workday_periods else ""
    return f"{days}{zone}{makeup}"
