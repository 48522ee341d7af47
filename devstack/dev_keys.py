"""The embedded default's API keys: one per role, created once and kept in `.local/dev-api-keys.json`.

The keys of the roles people hold belong to a person each (`P-dev-agent`, ...; the agent has every
queue's skill), so the README walk-through acts as a person (DESIGN §9)."""

from __future__ import annotations

import json
from pathlib import Path

from core.settings import Settings
from domain.enums import Actor
from domain.people import EVERY_QUEUE, PERSON_ROLES
from store.configured import vault_for
from store.db import get_engine, make_session_factory
from store.keys import create_api_key
from store.people import create_person, get_person


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
            person_id = None
            if role in PERSON_ROLES:
                person_id = f"P-dev-{role}"
                if get_person(session, person_id) is None:
                    skills = [EVERY_QUEUE] if role in (Actor.AGENT, Actor.SUPERVISOR) else []
                    create_person(session, f"Dev {role}", role.value, skills, person_id, "make run")
            _, plaintext = create_api_key(
                session, role.value, merchant, f"dev key for {role}", person_id=person_id
            )
            keys[role.value] = plaintext
    path.parent.mkdir(parents=True, exist_ok=True)
    path.touch(mode=0o600)
    path.write_text(json.dumps(keys, indent=2) + "\n")
    return keys
