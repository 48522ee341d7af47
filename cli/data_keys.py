"""`aftersales data-keys status | rewrap | seal-legacy`: rotate the codec key of personal data at rest.

`rewrap` re-wraps every case's data key with the current codec key (run it after making a new key
current; when `status` shows no data key under the old key, the old key can be retired);
`seal-legacy` seals personal data stored before sealing existed and hashes its phones. Each step
commits a batch, so either can be stopped and run again.
"""

from __future__ import annotations

import argparse
import sys

from sqlalchemy.orm import Session, sessionmaker

from store import personal
from store.vault import UnknownKeyError


def register(areas: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    data_keys = areas.add_parser("data-keys", help="data keys of personal data at rest").add_subparsers(
        dest="command", required=True
    )
    data_keys.add_parser("status", help="how many data keys each codec key wraps").set_defaults(run=_status)
    data_keys.add_parser("rewrap", help="re-wrap every data key with the current codec key").set_defaults(
        run=_rewrap
    )
    data_keys.add_parser("seal-legacy", help="seal personal data stored before sealing existed").set_defaults(
        run=_seal_legacy
    )


def _rewrap(args: argparse.Namespace, sessions: sessionmaker[Session]) -> int:
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
    return _status(args, sessions)


def _seal_legacy(args: argparse.Namespace, sessions: sessionmaker[Session]) -> int:
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
    return _status(args, sessions)


def _status(args: argparse.Namespace, sessions: sessionmaker[Session]) -> int:
    with sessions() as session:
        counts = personal.data_keys_by_wrapping_key(session)
        current = personal.vault_of(session).current_key_id
    for key_id, count in sorted(counts.items()):
        print(f"{key_id}\t{count} data key(s){' (current)' if key_id == current else ''}")
    if not counts:
        print("no data keys yet")
    return 0
