"""Freezes in force: which cases they cover, and a thaw that ends exactly its own scope."""

from __future__ import annotations

from sqlalchemy.orm import Session, sessionmaker

from store import repository
from tests.store import factories as f


def test_a_freeze_covers_cases_of_its_merchant_and_region_until_its_own_thaw(
    db: sessionmaker[Session],
) -> None:
    merchant, other, south, north = f.unique("M"), f.unique("M"), f.unique("CN-GD"), f.unique("CN-BJ")
    with db.begin() as session:
        repository.start_freeze(session, None, south, "Spring Festival", "supervisor:k1")
        repository.start_freeze(session, merchant, None, "stocktaking", "supervisor:k1")
        again = repository.start_freeze(session, None, south, "Spring Festival (extended)", "system:k2")
        assert again.started_by == "supervisor:k1"  # the first freeze's start is kept
    with db() as session:
        assert repository.active_freeze(session, other, south) == "Spring Festival (extended)"
        assert repository.active_freeze(session, merchant, north) == "stocktaking"
        assert repository.active_freeze(session, other, north) is None
        assert repository.active_freeze(session, other, None) is None
    with db.begin() as session:
        assert not repository.end_freeze(session, merchant, south)  # no freeze of exactly that scope
        assert repository.end_freeze(session, None, south)
    with db() as session:
        assert repository.active_freeze(session, other, south) is None
        assert repository.active_freeze(session, merchant, south) == "stocktaking"
    with db.begin() as session:
        assert repository.end_freeze(session, merchant, None)
