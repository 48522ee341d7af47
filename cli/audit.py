"""`aftersales audit verify | decodes`: the audit trail's hash chain, and who decoded what."""

from __future__ import annotations

import argparse

from sqlalchemy.orm import Session, sessionmaker

from store import codec_access
from store.audit import verify_chain


def register(areas: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    audit = areas.add_parser("audit", help="audit trail").add_subparsers(dest="command", required=True)
    verify = audit.add_parser("verify", help="recompute the hash chain; exit 1 on any mismatch")
    verify.add_argument("--case", dest="case_id")
    verify.set_defaults(run=_verify)
    decodes = audit.add_parser("decodes", help="who decoded which workflows through the codec, newest first")
    decodes.add_argument("--workflow", help="only decodes of this workflow id (case-<case id>)")
    decodes.add_argument("--limit", type=int, default=50)
    decodes.set_defaults(run=_decodes)


def _verify(args: argparse.Namespace, sessions: sessionmaker[Session]) -> int:
    with sessions() as session:
        problems = verify_chain(session, args.case_id)
    for problem in problems:
        print(f"{problem.case_id} seq {problem.seq}: {problem.problem}")
    print("audit chain intact" if not problems else f"{len(problems)} problem(s)")
    return 1 if problems else 0


def _decodes(args: argparse.Namespace, sessions: sessionmaker[Session]) -> int:
    with sessions() as session:
        recorded = codec_access.list_codec_decodes(session, args.workflow, args.limit)
    for decode in recorded:
        shown = "personal data shown" if decode.personal_revealed else "masked"
        workflows = ",".join(decode.workflow_ids) or "-"
        print(f"{decode.at:%Y-%m-%d %H:%M:%S}Z\t{decode.actor}\t{decode.via}\t{workflows}\t{shown}")
    return 0
