"""`aftersales` (or `python -m core.cli`): admin commands on the configured case store.

aftersales keys create --role agent [--merchant M-100] [--label text]
aftersales keys list | keys revoke <key_id>
aftersales audit verify [--case <case_id>]
aftersales calendar add --date 2026-12-24 [--kind closed|working] [--calendar business] [--merchant M-100]
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import date
from pathlib import Path

from sqlalchemy.orm import Session, sessionmaker

from core.settings import get_settings
from domain.enums import Actor
from store import repository
from store.db import get_engine, make_session_factory
from store.migrate import upgrade

ROLES = [r.value for r in Actor if r != Actor.CUSTOMER]


def _sessions() -> sessionmaker[Session]:
    url = get_settings().resolved_database_url
    upgrade(url)
    return make_session_factory(get_engine(url))


def ensure_dev_keys(path: Path) -> dict[str, str]:
    """One key per role for the embedded default, created once and kept in `path` (0600)."""
    if path.exists():
        return dict(json.loads(path.read_text()))
    keys: dict[str, str] = {}
    with _sessions().begin() as session:
        for role in ROLES:
            merchant = "M-100" if role == Actor.MERCHANT else None
            _, plaintext = repository.create_api_key(session, role, merchant, f"dev key for {role}")
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
    keys.add_parser("list", help="list keys (never the secrets)")
    revoke = keys.add_parser("revoke", help="revoke a key")
    revoke.add_argument("key_id")
    audit = sub.add_parser("audit", help="audit trail").add_subparsers(dest="command", required=True)
    verify = audit.add_parser("verify", help="recompute the hash chain; exit 1 on any mismatch")
    verify.add_argument("--case", dest="case_id")
    calendar = sub.add_parser("calendar", help="calendar overrides").add_subparsers(
        dest="command", required=True
    )
    add = calendar.add_parser("add", help="add a closed (holiday) or extra working day")
    add.add_argument("--date", type=date.fromisoformat, required=True)
    add.add_argument("--kind", choices=["closed", "working"], default="closed")
    add.add_argument("--calendar", default="business")
    add.add_argument("--merchant")
    add.add_argument("--note", default="")
    args = parser.parse_args(argv)

    sessions = _sessions()
    if args.area == "keys" and args.command == "create":
        if (args.role == "merchant") != bool(args.merchant):
            parser.error("--merchant is required for role merchant and only for it")
        with sessions.begin() as session:
            key_id, plaintext = repository.create_api_key(session, args.role, args.merchant, args.label)
        print(f"{key_id} {args.role}: {plaintext}\n(store it now: only its hash is kept)")
    elif args.area == "keys" and args.command == "list":
        with sessions() as session:
            for row in repository.list_api_keys(session):
                state = f"revoked {row.revoked_at:%Y-%m-%d}" if row.revoked_at else "active"
                print(f"{row.key_id}\t{row.role}\t{row.merchant_id or '-'}\t{state}\t{row.label}")
    elif args.area == "keys" and args.command == "revoke":
        with sessions.begin() as session:
            done = repository.revoke_api_key(session, args.key_id)
        print("revoked" if done else f"no active key {args.key_id}")
        return 0 if done else 1
    elif args.area == "audit":
        with sessions() as session:
            problems = repository.verify_chain(session, args.case_id)
        for problem in problems:
            print(f"{problem.case_id} seq {problem.seq}: {problem.problem}")
        print("audit chain intact" if not problems else f"{len(problems)} problem(s)")
        return 1 if problems else 0
    elif args.area == "calendar":
        with sessions.begin() as session:
            repository.add_calendar_override(
                session, args.calendar, args.merchant, args.date, args.kind, args.note
            )
        print(f"{args.calendar}: {args.date} is now {args.kind}"
              f"{' for ' + args.merchant if args.merchant else ''}; new cases use it. Running cases "
              "keep their deadlines until told: POST /v1/admin/calendars/{name}/overrides (same date) "
              "signals them, or `temporal workflow signal --name calendar_changed` one case")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
