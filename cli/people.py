"""`aftersales people create | list | deactivate | key`: the people who work cases (DESIGN §9)."""

from __future__ import annotations

import argparse
import asyncio
from datetime import timedelta

from sqlalchemy.orm import Session, sessionmaker
from temporalio.service import RPCError

from core.settings import get_settings
from core.temporal import connect
from domain.people import PERSON_ID, PERSON_ROLES, HandbackInput, skill_problem
from services.handback import start_handback
from store import keys, people

ROLES = [r.value for r in PERSON_ROLES]


def register(areas: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    group = areas.add_parser("people", help="people: agents, supervisors, dispute team, ops")
    commands = group.add_subparsers(dest="command", required=True)
    create = commands.add_parser("create", help="create a person (and a key with --with-key)")
    create.add_argument("--name", required=True, help="display name")
    create.add_argument("--role", choices=ROLES, required=True)
    create.add_argument("--skill", action="append", default=[], help="a queue they work; repeat; * = all")
    create.add_argument("--id", dest="person_id", help="your own id for the person (made up if absent)")
    create.add_argument("--with-key", action="store_true", help="also create their API key (printed once)")
    create.set_defaults(run=lambda args, sessions: _create(args, sessions, create))
    listing = commands.add_parser("list", help="list people (tab-separated)")
    listing.add_argument("--all", action="store_true", help="include deactivated people")
    listing.set_defaults(run=_list)
    deactivate = commands.add_parser("deactivate", help="deactivate a person and revoke their keys")
    deactivate.add_argument("person_id")
    deactivate.add_argument(
        "--no-handback",
        action="store_true",
        help="only deactivate (their cases stay assigned until released)",
    )
    deactivate.set_defaults(run=_deactivate)
    key = commands.add_parser("key", help="create an API key that acts as the person (printed once)")
    key.add_argument("person_id")
    key.set_defaults(run=_key)


def _create(
    args: argparse.Namespace, sessions: sessionmaker[Session], parser: argparse.ArgumentParser
) -> int:
    if args.person_id and not PERSON_ID.match(args.person_id):
        parser.error(f"--id {args.person_id!r}: letters, digits, _ . - (at most 40)")
    for skill in args.skill:
        problem = skill_problem(skill)
        if problem:
            parser.error(f"--skill {problem}")
    name = args.name.strip()
    if not name or len(name) > 200:
        parser.error("--name: 1 to 200 characters")
    try:
        with sessions.begin() as session:
            row = people.create_person(session, name, args.role, args.skill, args.person_id, "cli")
            made = (
                keys.create_api_key(session, row.role, label=name, person_id=row.person_id)
                if args.with_key
                else None
            )
            person_id = row.person_id
    except people.PersonExists as err:
        print(err)
        return 1
    print(f"{person_id} {args.role} {name}")
    if made is not None:
        print(f"{made[0]}: {made[1]}\n(store it now: only its hash is kept)")
    return 0


def _list(args: argparse.Namespace, sessions: sessionmaker[Session]) -> int:
    with sessions() as session:
        for row in people.list_people(session, active=None if args.all else True):
            state = "active" if row.active else f"deactivated {row.deactivated_at:%Y-%m-%d}"
            skills = row.skills or "-"
            print(f"{row.person_id}\t{row.role}\t{skills}\t{row.presence}\t{state}\t{row.display_name}")
    return 0


def _deactivate(args: argparse.Namespace, sessions: sessionmaker[Session]) -> int:
    """Deactivate, then hand their open cases back at once; exit 2 when Temporal cannot be reached
    (the person stays deactivated: run the command again to hand the cases back)."""
    with sessions.begin() as session:
        done = people.deactivate_person(session, args.person_id)
    if done is None:
        print(f"no person {args.person_id}")
        return 1
    print(f"deactivated {args.person_id}; {done[1]} key(s) revoked")
    if args.no_handback:
        return 0
    try:
        asyncio.run(_hand_back(args.person_id))
    except (RPCError, RuntimeError, OSError) as err:
        print(f"their open cases were not handed back (Temporal: {err}); run the command again")
        return 2
    print("their open cases go back to their queues")
    return 0


async def _hand_back(person_id: str) -> None:
    settings = get_settings()
    client = await connect(settings)
    inp = HandbackInput(person_id=person_id, grace_seconds=0, why="deactivated")
    await start_handback(
        client, settings.task_queue, inp, timedelta(seconds=settings.workflow_rpc_timeout_seconds)
    )


def _key(args: argparse.Namespace, sessions: sessionmaker[Session]) -> int:
    with sessions.begin() as session:
        row = people.get_person(session, args.person_id)
        if row is None or not row.active:
            print(f"no active person {args.person_id}")
            return 1
        key_id, plaintext = keys.create_api_key(
            session, row.role, label=row.display_name, person_id=row.person_id
        )
    print(f"{key_id} {row.role} for {args.person_id}: {plaintext}\n(store it now: only its hash is kept)")
    return 0
