"""`aftersales keys create | list | revoke`: API keys (only their sha256 is stored)."""

from __future__ import annotations

import argparse

from sqlalchemy.orm import Session, sessionmaker

from domain.enums import Actor
from store import keys as api_keys

ROLES = [r.value for r in Actor if r != Actor.CUSTOMER]
CODEC_ROLES = [Actor.OPS.value, Actor.SUPERVISOR.value, Actor.DISPUTE.value]  # as api.auth.CODEC_ROLES


def register(areas: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    keys = areas.add_parser("keys", help="API keys").add_subparsers(dest="command", required=True)
    create = keys.add_parser("create", help="create a key (printed once)")
    create.add_argument("--role", choices=ROLES, required=True)
    create.add_argument("--merchant", help="merchant id (required for role merchant)")
    create.add_argument("--label", default="")
    create.add_argument(
        "--decode-personal",
        action="store_true",
        help="the codec shows this key and its sign-ins personal data in full (ops, supervisor, dispute)",
    )
    create.set_defaults(run=lambda args, sessions: _create(args, sessions, create))
    keys.add_parser("list", help="list keys (never the secrets)").set_defaults(run=_list)
    revoke = keys.add_parser("revoke", help="revoke a key")
    revoke.add_argument("key_id")
    revoke.set_defaults(run=_revoke)


def _create(
    args: argparse.Namespace, sessions: sessionmaker[Session], parser: argparse.ArgumentParser
) -> int:
    if (args.role == "merchant") != bool(args.merchant):
        parser.error("--merchant is required for role merchant and only for it")
    if args.decode_personal and args.role not in CODEC_ROLES:
        parser.error(f"--decode-personal is for the codec's roles: {', '.join(CODEC_ROLES)}")
    permissions = [api_keys.DECODE_PERSONAL] if args.decode_personal else []
    with sessions.begin() as session:
        key_id, plaintext = api_keys.create_api_key(
            session, args.role, args.merchant, args.label, permissions
        )
    granted = f" [{', '.join(permissions)}]" if permissions else ""
    print(f"{key_id} {args.role}{granted}: {plaintext}\n(store it now: only its hash is kept)")
    return 0


def _list(args: argparse.Namespace, sessions: sessionmaker[Session]) -> int:
    with sessions() as session:
        for row in api_keys.list_api_keys(session):
            state = f"revoked {row.revoked_at:%Y-%m-%d}" if row.revoked_at else "active"
            granted = ",".join(sorted(api_keys.permissions_of(row))) or "-"
            print(f"{row.key_id}\t{row.role}\t{row.merchant_id or '-'}\t{granted}\t{state}\t{row.label}")
    return 0


def _revoke(args: argparse.Namespace, sessions: sessionmaker[Session]) -> int:
    with sessions.begin() as session:
        done = api_keys.revoke_api_key(session, args.key_id)
    print("revoked" if done else f"no active key {args.key_id}")
    return 0 if done else 1
