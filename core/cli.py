"""`aftersales` (or `python -m core.cli`): admin commands on the configured case store.

aftersales keys create --role agent [--merchant M-100] [--label text]
aftersales keys create --role ops --decode-personal   (the codec shows this key personal data in full)
aftersales keys list | keys revoke <key_id>
aftersales audit verify [--case <case_id>]
aftersales audit decodes [--workflow case-<case_id>] [--limit 50]
aftersales data-keys status | rewrap | seal-legacy
aftersales calendar add --date 2026-12-24 [--kind closed|working] [--calendar business] [--merchant M-100]
aftersales calendar hours set --day mon=09:00-12:00,13:30-18:00 [--day sat=10:00-16:00 ...]
                              [--merchant M-100] [--timezone Asia/Shanghai] [--workday 09:00-18:00]
aftersales calendar hours show | hours clear [--merchant M-100] [--calendar business]

`data-keys rewrap` re-wraps every case's data key with the current codec key (run it after making a
new key current; when `status` shows no data key under the old key, the old key can be retired);
`seal-legacy` seals personal data stored before sealing existed and hashes its phones.

Calendar changes are stored, then signalled to the running cases they affect (all open cases, or one
merchant's), whose deadlines move; `--no-signal` only stores them (new cases and the next calendar
reload use them).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
from datetime import date, timedelta
from pathlib import Path

from sqlalchemy.orm import Session, sessionmaker

from activities.calendars import effective_hours
from core.case_signals import SignalOutcome, signal_open_cases
from core.keyring import vault_for
from core.settings import get_settings
from core.temporal import connect
from domain.calendar_source import DEFAULT_CALENDARS, WEEKDAYS, WorkingHours
from domain.enums import Actor
from store import calendars, codec_access, personal
from store.audit import verify_chain
from store.db import get_engine, make_session_factory
from store.keys import DECODE_PERSONAL, create_api_key, list_api_keys, permissions_of, revoke_api_key
from store.migrate import upgrade
from store.vault import UnknownKeyError

ROLES = [r.value for r in Actor if r != Actor.CUSTOMER]
CODEC_ROLES = [Actor.OPS.value, Actor.SUPERVISOR.value, Actor.DISPUTE.value]  # as api.auth.CODEC_ROLES


def _sessions() -> sessionmaker[Session]:
    settings = get_settings()
    url = settings.resolved_database_url
    upgrade(url)
    return make_session_factory(get_engine(url), vault_for(settings))


def ensure_dev_keys(path: Path) -> dict[str, str]:
    """One key per role for the embedded default, created once and kept in `path` (0600)."""
    if path.exists():
        return dict(json.loads(path.read_text()))
    keys: dict[str, str] = {}
    with _sessions().begin() as session:
        for role in ROLES:
            merchant = "M-100" if role == Actor.MERCHANT else None
            _, plaintext = create_api_key(session, role, merchant, f"dev key for {role}")
            keys[role] = plaintext
    path.parent.mkdir(parents=True, exist_ok=True)
    path.touch(mode=0o600)
    path.write_text(json.dumps(keys, indent=2) + "\n")
    return keys


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="aftersales", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    sub = parser.add_subparsers(dest="area", required=True)
    keys = sub.add_parser("keys", help="API keys").add_subparsers(dest="command", required=True)
    create = keys.add_parser("create", help="create a key (printed once)")
    create.add_argument("--role", choices=ROLES, required=True)
    create.add_argument("--merchant", help="merchant id (required for role merchant)")
    create.add_argument("--label", default="")
    create.add_argument(
        "--decode-personal",
        action="store_true",
        help="the codec shows this key and its sign-ins personal data in full (ops, supervisor, dispute)",
    )
    keys.add_parser("list", help="list keys (never the secrets)")
    revoke = keys.add_parser("revoke", help="revoke a key")
    revoke.add_argument("key_id")
    audit = sub.add_parser("audit", help="audit trail").add_subparsers(dest="command", required=True)
    verify = audit.add_parser("verify", help="recompute the hash chain; exit 1 on any mismatch")
    verify.add_argument("--case", dest="case_id")
    decodes = audit.add_parser("decodes", help="who decoded which workflows through the codec, newest first")
    decodes.add_argument("--workflow", help="only decodes of this workflow id (case-<case id>)")
    decodes.add_argument("--limit", type=int, default=50)
    data_keys = sub.add_parser("data-keys", help="data keys of personal data at rest").add_subparsers(
        dest="command", required=True
    )
    data_keys.add_parser("status", help="how many data keys each codec key wraps")
    data_keys.add_parser("rewrap", help="re-wrap every data key with the current codec key")
    data_keys.add_parser("seal-legacy", help="seal personal data stored before sealing existed")
    calendar = sub.add_parser("calendar", help="calendar overrides").add_subparsers(
        dest="command", required=True
    )
    add = calendar.add_parser("add", help="add a closed (holiday) or extra working day")
    add.add_argument("--date", type=date.fromisoformat, required=True)
    add.add_argument("--kind", choices=["closed", "working"], default="closed")
    _calendar_scope(add)
    add.add_argument("--note", default="")
    add.add_argument("--no-signal", action="store_true", help="store only; running cases keep deadlines")
    hours_parser = calendar.add_parser("hours", help="working hours of a merchant or the platform")
    hours_cmd = hours_parser.add_subparsers(dest="hours_command", required=True)
    put = hours_cmd.add_parser("set", help="replace the working hours (days not given are closed)")
    put.add_argument("--day", action="append", required=True, metavar="DAY=HH:MM-HH:MM[,HH:MM-HH:MM]")
    put.add_argument("--workday", help="hours of a make-up working day, e.g. 09:00-18:00")
    put.add_argument("--timezone")
    put.add_argument("--note", default="")
    put.add_argument("--no-signal", action="store_true", help="store only; running cases keep deadlines")
    _calendar_scope(put)
    show = hours_cmd.add_parser("show", help="the hours that apply")
    _calendar_scope(show)
    clear = hours_cmd.add_parser("clear", help="back to the platform's (or the standard) hours")
    clear.add_argument("--no-signal", action="store_true", help="store only; running cases keep deadlines")
    _calendar_scope(clear)
    args = parser.parse_args(argv)

    sessions = _sessions()
    if args.area == "keys" and args.command == "create":
        if (args.role == "merchant") != bool(args.merchant):
            parser.error("--merchant is required for role merchant and only for it")
        if args.decode_personal and args.role not in CODEC_ROLES:
            parser.error(f"--decode-personal is for the codec's roles: {', '.join(CODEC_ROLES)}")
        permissions = [DECODE_PERSONAL] if args.decode_personal else []
        with sessions.begin() as session:
            key_id, plaintext = create_api_key(session, args.role, args.merchant, args.label, permissions)
        granted = f" [{', '.join(permissions)}]" if permissions else ""
        print(f"{key_id} {args.role}{granted}: {plaintext}\n(store it now: only its hash is kept)")
    elif args.area == "keys" and args.command == "list":
        with sessions() as session:
            for row in list_api_keys(session):
                state = f"revoked {row.revoked_at:%Y-%m-%d}" if row.revoked_at else "active"
                granted = ",".join(sorted(permissions_of(row))) or "-"
                print(f"{row.key_id}\t{row.role}\t{row.merchant_id or '-'}\t{granted}\t{state}\t{row.label}")
    elif args.area == "audit" and args.command == "decodes":
        with sessions() as session:
            recorded = codec_access.list_codec_decodes(session, args.workflow, args.limit)
        for decode in recorded:
            shown = "personal data shown" if decode.personal_revealed else "masked"
            workflows = ",".join(decode.workflow_ids) or "-"
            print(f"{decode.at:%Y-%m-%d %H:%M:%S}Z\t{decode.actor}\t{decode.via}\t{workflows}\t{shown}")
    elif args.area == "data-keys":
        return _data_keys(sessions, args.command)
    elif args.area == "keys" and args.command == "revoke":
        with sessions.begin() as session:
            done = revoke_api_key(session, args.key_id)
        print("revoked" if done else f"no active key {args.key_id}")
        return 0 if done else 1
    elif args.area == "audit":
        with sessions() as session:
            problems = verify_chain(session, args.case_id)
        for problem in problems:
            print(f"{problem.case_id} seq {problem.seq}: {problem.problem}")
        print("audit chain intact" if not problems else f"{len(problems)} problem(s)")
        return 1 if problems else 0
    elif args.area == "calendar" and args.command == "add":
        with sessions.begin() as session:
            calendars.add_calendar_override(
                session, args.calendar, args.merchant, args.date, args.kind, args.note
            )
        print(f"{args.calendar}: {args.date} is now {args.kind}{_for(args.merchant)}")
        return 0 if args.no_signal else _move_running_deadlines(sessions, args.merchant)
    elif args.area == "calendar" and args.hours_command == "set":
        try:
            hours = WorkingHours(weekly=_weekly(args.day), timezone=args.timezone,
                                 workday_periods=[args.workday] if args.workday else None)  # fmt: skip
        except ValueError as err:
            parser.error(str(err))
        with sessions.begin() as session:
            calendars.set_calendar_hours(
                session, args.calendar, args.merchant, hours.weekly, hours.workday_periods,
                hours.timezone, args.note,
            )  # fmt: skip
        print(f"{args.calendar}{_for(args.merchant)}: {_describe(hours)}")
        return 0 if args.no_signal else _move_running_deadlines(sessions, args.merchant)
    elif args.area == "calendar" and args.hours_command == "show":
        with sessions() as session:
            found = effective_hours(session, args.calendar, args.merchant)
        standard = f"standard hours: {DEFAULT_CALENDARS[args.calendar]}"
        print(f"{args.calendar}{_for(args.merchant)}: {_describe(found) if found else standard}")
    elif args.area == "calendar" and args.hours_command == "clear":
        with sessions.begin() as session:
            cleared = calendars.clear_calendar_hours(session, args.calendar, args.merchant)
        state = "stored hours removed" if cleared else "no working hours stored"
        print(f"{args.calendar}{_for(args.merchant)}: {state}")
        if args.no_signal:
            return 0 if cleared else 1
        # Nothing stored may mean an earlier run cleared them and could not tell the cases: tell
        # them anyway, so running the command again completes it.
        return _move_running_deadlines(sessions, args.merchant)
    return 0


def _data_keys(sessions: sessionmaker[Session], command: str) -> int:
    """Key rotation of personal data at rest: each step commits a batch, so it can be stopped and rerun."""
    if command == "rewrap":
        total = 0
        try:
            while True:
                with sessions.begin() as session:
                    done = personal.rewrap_data_keys(session)
                total += done
                if done == 0:
                    break
        except UnknownKeyError as err:
            print(f"re-wrapped {total}; stopped: {err}", file=sys.stderr)
            return 1
        print(f"re-wrapped {total} data key(s) with the current codec key")
    elif command == "seal-legacy":
        cases, texts, after = 0, 0, None
        while True:
            with sessions.begin() as session:
                done, after = personal.seal_legacy_cases(session, after)
            cases += done
            if after is None:
                break
        while True:
            with sessions.begin() as session:
                done = personal.seal_legacy_texts(session)
            texts += done
            if done == 0:
                break
        print(f"sealed the personal data of {cases} case(s) and {texts} note(s)/survey comment(s)")
    with sessions() as session:
        counts = personal.data_keys_by_wrapping_key(session)
        current = personal.vault_of(session).current_key_id
    for key_id, count in sorted(counts.items()):
        print(f"{key_id}\t{count} data key(s){' (current)' if key_id == current else ''}")
    if not counts:
        print("no data keys yet")
    return 0


def _calendar_scope(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--calendar", choices=list(DEFAULT_CALENDARS), default="business")
    parser.add_argument("--merchant", help="one merchant's (default: platform-wide)")


def _for(merchant: str | None) -> str:
    return f" for merchant {merchant}" if merchant else " platform-wide"


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


def _move_running_deadlines(sessions: sessionmaker[Session], merchant: str | None) -> int:
    """Signal `calendar_changed` to the open cases the change affects; 2 when Temporal is unreachable
    (the change is stored either way: new cases use it)."""
    settings = get_settings()

    async def send() -> SignalOutcome:
        client = await connect(settings)
        timeout = timedelta(seconds=settings.workflow_rpc_timeout_seconds)
        return await signal_open_cases(
            client, sessions, "calendar_changed", merchant_id=merchant, rpc_timeout=timeout
        )

    again = "run the command again (it is idempotent) when Temporal is up"
    try:
        outcome = asyncio.run(send())
    except Exception as err:  # any failure to reach Temporal is reported: the change is stored
        print(f"stored, but running cases were not told: Temporal at {settings.temporal_address}: {err}; "
              f"{again}", file=sys.stderr)  # fmt: skip
        return 2
    if not outcome.complete:
        print(f"stored, but running cases were not told: {outcome.failed} not signalled "
              f"({outcome.signalled} were): Temporal at {settings.temporal_address}: {outcome.error}; "
              f"{again}", file=sys.stderr)  # fmt: skip
        return 2
    print(f"running cases told: {outcome.signalled}; already closed: {outcome.skipped}")
    return 0


def run() -> None:
    """The `aftersales` command. Ends the process without interpreter finalization: a Temporal
    client's Rust runtime may still have a thread calling back into Python then (seen as a
    `PyGILState_Release` abort about one run in ten after an unreachable server)."""
    code = main()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


if __name__ == "__main__":
    run()
