"""`aftersales data-keys status | rewrap | seal-legacy`: rotate the codec key of what it seals at rest.

`rewrap` re-wraps every case's data key and re-seals every webhook signing secret with the current
codec key (run it after making a new key current; when `status` shows nothing under the old key, the
old key can be retired);
`seal-legacy` seals personal data stored before sealing existed and hashes its phones. Each step
commits a batch, so either can be stopped and run again.
"""

from __future__ import annotations

import argparse
import sys

from sqlalchemy.orm import Session, sessionmaker

from store import personal, webhooks
from store.vault import UnknownKeyError


def register(areas: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    data_keys = areas.add_parser("data-keys", help="data keys of personal data at rest").add_subparsers(
        dest="command", required=True
    )
    data_keys.add_parser("status", help="what each codec key seals: data keys, webhook secrets").set_defaults(
        run=_status
    )
    data_keys.add_parser(
        "rewrap", help="re-wrap every data key and webhook secret with the current codec key"
    ).set_defaults(run=_rewrap)
    data_keys.add_parser("seal-legacy", help="seal personal data stored before sealing existed").set_defaults(
        run=_seal_legacy
    )


def _rewrap(args: argparse.Namespace, sessions: sessionmaker[Session]) -> int:
    totals = {"data key(s)": 0, "webhook secret(s)": 0}
    steps = (("data key(s)", personal.rewrap_data_keys), ("webhook secret(s)", webhooks.reseal_secrets))
    try:
        for what, step in steps:
            while True:
                with sessions.begin() as session:
                    done = step(session)
                totals[what] += done
                if done == 0:
                    break
    except UnknownKeyError as err:
        print(f"re-wrapped {_counted(totals)}; stopped: {err}", file=sys.stderr)
        return 1
    print(f"re-wrapped {_counted(totals)} with the current codec key")
    return _status(args, sessions)


def _counted(totals: dict[str, int]) -> str:
    return ", ".join(f"{count} {what}" for what, count in totals.items())


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
        data_keys = personal.data_keys_by_wrapping_key(session)
        secrets = webhooks.secrets_by_sealing_key(session)
        current = personal.vault_of(session).current_key_id
    for key_id in sorted(data_keys.keys() | secrets.keys()):
        sealed = f"{data_keys.get(key_id, 0)} data key(s)"
        if key_id in secrets:
            sealed += f", {secrets[key_id]} webhook secret(s)"
        print(f"{key_id}\t{sealed}{' (current)' if key_id == current else ''}")
    if not data_keys and not secrets:
        print("no data keys yet")
    return 0
