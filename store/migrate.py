"""Apply or revert the case-store migrations: `python -m store.migrate upgrade|downgrade [revision]`."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from alembic import command
from alembic.config import Config

MIGRATIONS = Path(__file__).resolve().parent / "migrations"


def alembic_config(url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def upgrade(url: str, revision: str = "head") -> None:
    command.upgrade(alembic_config(url), revision)


def downgrade(url: str, revision: str) -> None:
    command.downgrade(alembic_config(url), revision)


def main(argv: list[str] | None = None) -> int:
    from core.settings import get_settings

    parser = argparse.ArgumentParser(prog="python -m store.migrate", description=__doc__)
    parser.add_argument("direction", choices=["upgrade", "downgrade"])
    parser.add_argument(
        "revision", nargs="?", help="target revision (upgrade: default head; downgrade: required, e.g. base)"
    )
    args = parser.parse_args(argv)
    url = get_settings().resolved_database_url
    if args.direction == "upgrade":
        upgrade(url, args.revision or "head")
    else:
        if not args.revision:
            parser.error("downgrade needs a revision, e.g. `base` or `-1`")
        downgrade(url, args.revision)
    print(f"{args.direction} done on {url.split('@')[-1]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
