"""What every command group shares: the configured case store, and how a scope is said."""

from __future__ import annotations

from sqlalchemy.orm import Session, sessionmaker

from core.settings import get_settings
from store.configured import vault_for
from store.db import get_engine, make_session_factory
from store.migrate import upgrade


def sessions() -> sessionmaker[Session]:
    """Sessions on the configured store, migrated to the latest revision first."""
    settings = get_settings()
    url = settings.resolved_database_url
    upgrade(url)
    return make_session_factory(get_engine(url), vault_for(settings))


def for_merchant(merchant: str | None) -> str:
    return f" for merchant {merchant}" if merchant else " platform-wide"
