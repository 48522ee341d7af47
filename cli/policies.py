"""`aftersales policies create | history | show`: versioned policies per platform, merchant and
merchant+category (DESIGN §13). A version is a JSON document of the fields it sets; past versions
never change."""

from __future__ import annotations

import argparse
import json
import sys
from datetime import UTC, datetime
from pathlib import Path

from pydantic import ValidationError
from sqlalchemy.orm import Session, sessionmaker

from domain.policy_docs import PolicyDocument
from services import policies as policy_service
from store import policies


def register(areas: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    group = areas.add_parser("policies", help="versioned policies per platform, merchant and category")
    commands = group.add_subparsers(dest="command", required=True)
    create = commands.add_parser("create", help="create the next version of a level's policy")
    _scope(create)
    create.add_argument(
        "--effective-from", help="ISO time with offset it takes effect (default: now)", default=None
    )
    create.add_argument(
        "--file", required=True, help='the document as JSON (e.g. {"no_reason_return_days": 10}); - for stdin'
    )
    create.set_defaults(run=_create)
    history = commands.add_parser("history", help="every version of a level, newest first (JSON lines)")
    _scope(history)
    history.set_defaults(run=_history)
    show = commands.add_parser("show", help="the policy in force now, with where each value came from")
    _scope(show)
    show.set_defaults(run=_show)


def _scope(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--merchant", help="the merchant's level (absent: the platform's)")
    parser.add_argument("--category", help="the merchant's category level (needs --merchant)")


def _create(args: argparse.Namespace, sessions: sessionmaker[Session]) -> int:
    text = sys.stdin.read() if args.file == "-" else Path(args.file).read_text()
    try:
        document = PolicyDocument.model_validate_json(text)
        effective = datetime.fromisoformat(args.effective_from) if args.effective_from else datetime.now(UTC)
        if effective.tzinfo is None:
            raise ValueError("--effective-from: give the offset (e.g. +08:00)")
        with sessions.begin() as session:
            version = policy_service.create_version(
                session, args.merchant, args.category, effective, document, "cli"
            )
    except ValidationError as err:
        first = err.errors()[0]
        print(f"refused: {'.'.join(str(p) for p in first['loc']) or 'document'}: {first['msg']}")
        return 1
    except ValueError as err:
        print(f"refused: {err}")
        return 1
    print(f"{version.source} effective {version.effective_from.isoformat()}")
    return 0


def _history(args: argparse.Namespace, sessions: sessionmaker[Session]) -> int:
    with sessions() as session:
        for version in policies.history(session, args.merchant, args.category):
            print(version.model_dump_json(exclude_none=True))
    return 0


def _show(args: argparse.Namespace, sessions: sessionmaker[Session]) -> int:
    with sessions() as session:
        resolved = policy_service.in_force(session, args.merchant, args.category, datetime.now(UTC))
    print(json.dumps({"version": resolved.version, "provenance": resolved.provenance}, indent=2))
    return 0
