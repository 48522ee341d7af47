"""The embedded default's API keys: one per role, created once and kept in `.local/dev-api-keys.json`."""

from __future__ import annotations

import json
from pathlib import Path

from core.settings import Settings
from domain.enums import Actor
from store.configured import vault_for
from store.db import get_engine, make_session_factory
from store.keys import create_api_key


def ensure_dev_keys(path: Path, settings: Settings) -> dict[str, str]:
    """The keys kept in `path` (0600), made first in the migrated store of `settings` if missing;
    the merchant key is for merchant M-100."""
    if path.exists():
        return dict(json.loads(path.read_text()))
    sessions = make_session_factory(get_engine(settings.resolved_database_url), vault_for(settings))
    keys: dict[str, str] = {}
    with sessions.begin() as session:
        for role in (r for r in Actor if r != Actor.CUSTOMER):
            merchant = "M-100" if role == Actor.MERCHANT else None
            _, plaintext = create_api_key(session, role.value, merchant, f"dev key for {role}")
            keys[role.value] = plaintext
    path.parent.mkdir(parents=True, exist_ok=True)
    path.touch(mode=0o600)
    path.write_text(json.dumps(keys, indent=2) + "\n")
    return keys
