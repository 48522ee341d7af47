"""Freezes in force: which cases they cover, and a thaw that ends exactly its own scope."""

from __future__ import annotations

from sqlalchemy.orm import Session, sessionmaker

from store import freezes, listing
from tests.store import factories as f
from tests.store.helpers import create


def test_a_freeze_covers_cases_of_its_merchant_and_region_until_its_own_thaw(
    db: sessionmaker[Session],
) -> None:
    merchant, other, south, north = f.unique("M"), f.unique("M"), f.unique("CN-GD"), f.unique("CN-BJ")
    with db.begin() as session:
        freezes.start_freeze(session, None, south, "Spring Festival", "supervisor:k1")
        freezes.start_freeze(session, merchant, None, "stocktaking", "supervisor:k1")
        again = freezes.start_freeze(session, None, south, "Spring Festival (extended)", "system:k2")
        assert again.started_by == "supervisor:k1"  # the first freeze's start is kept
    with db() as session:
        assert freezes.active_freeze(session, other, south) == "Spring Festival (extended)"
        assert freezes.active_freeze(session, merchant, north) == "stocktaking"
        assert freezes.active_freeze(session, other, north) is None
        assert freezes.active_freeze(session, other, None) is None
    with db.begin() as session:
        assert not freezes.end_freeze(session, merchant, south)  # no freeze of exactly that scope
        assert freezes.end_freeze(session, None, south)
    with db() as session:
        assert freezes.active_freeze(session, other, south) is None
        assert freezes.active_freeze(session, merchant, south) == "stocktaking"
    with db.begin() as session:
        assert freezes.end_freeze(session, merchant, None)


def test_a_thaw_leaves_frozen_the_cases_another_freeze_still_covers(db: sessionmaker[Session]) -> None:
    merchant, other, south, north = f.unique("M"), f.unique("M"), f.unique("CN-GD"), f.unique("CN-BJ")

    def in_region(merchant_id: str, region: str) -> str:
        req = f.case_request(merchant_id=merchant_id)
        order = req.order.model_dump(mode="json") | {"region": region}
        return f"case-{create(db, f.case_request(merchant_id=merchant_id, order=order))[0]}"

    ours_south, ours_north, theirs_south = (
        in_region(merchant, south),
        in_region(merchant, north),
        in_region(other, south),
    )
    with db.begin() as session:  # the region over Spring Festival, and the merchant's stocktaking
        freezes.start_freeze(session, None, south, "Spring Festival", "supervisor:k1")
        freezes.start_freeze(session, merchant, None, "stocktaking", "supervisor:k1")
    with db() as session:
        assert listing.open_case_workflow_ids(session, region=south, frozen=False) == []
    with db.begin() as session:
        freezes.end_freeze(session, None, south)
    with db() as session:
        # The region thaws: its other merchant's case resumes, the stocktaking merchant's does not.
        assert listing.open_case_workflow_ids(session, region=south, frozen=False) == [theirs_south]
        assert listing.open_case_workflow_ids(session, region=south, frozen=True) == [ours_south]
        assert sorted(listing.open_case_workflow_ids(session, merchant_id=merchant, frozen=True)) == sorted(
            [ours_south, ours_north]
        )
    with db.begin() as session:
        freezes.end_freeze(session, merchant, None)
    with db() as session:
        assert listing.open_case_workflow_ids(session, merchant_id=merchant, frozen=True) == []
