"""`aftersales` (or `python -m cli`): admin commands on the configured case store.

aftersales keys create --role agent [--merchant M-100] [--label text]
aftersales keys create --role ops --decode-personal   (the codec shows this key personal data in full)
aftersales keys list | keys revoke <key_id>
aftersales people create --name "Li Na" --role agent [--skill general --skill refunds] [--id P-li]
                         [--with-key]
aftersales people list [--all] | people deactivate <person_id> | people key <person_id>
aftersales audit verify [--case <case_id>]
aftersales audit decodes [--workflow case-<case_id>] [--limit 50]
aftersales data-keys status | rewrap | seal-legacy
aftersales calendar add --date 2026-12-24 [--kind closed|working] [--calendar business] [--merchant M-100]
aftersales calendar hours set --day mon=09:00-12:00,13:30-18:00 [--day sat=10:00-16:00 ...]
                              [--merchant M-100] [--timezone Asia/Shanghai] [--workday 09:00-18:00]
aftersales calendar hours show | hours clear [--merchant M-100] [--calendar business]
aftersales policies create --file policy.json [--merchant M-100 [--category fresh_food]]
                           [--effective-from 2026-12-10T00:00:00+08:00]
aftersales policies history | show [--merchant M-100 [--category fresh_food]]

`data-keys rewrap` re-wraps every case's data key and re-seals every webhook signing secret with the
current codec key (run it after making a new key current; when `status` shows nothing under the old
key, the old key can be retired);
`seal-legacy` seals personal data stored before sealing existed and hashes its phones.

Calendar changes are stored, then signalled to the running cases they affect (all open cases, or one
merchant's), whose deadlines move; `--no-signal` only stores them (new cases and the next calendar
reload use them).
"""

from __future__ import annotations

import argparse
import os
import sys

from cli import audit, calendar, common, data_keys, keys, people, policies

GROUPS = (keys, people, audit, data_keys, calendar, policies)


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(
        prog="aftersales", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    areas = root.add_subparsers(dest="area", required=True)
    for group in GROUPS:
        group.register(areas)
    return root


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    code: int = args.run(args, common.sessions())
    return code


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
