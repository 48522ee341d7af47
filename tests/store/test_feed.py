"""The event feed: every case's events in one order, read page by page from a cursor, never skipping
an event whose transaction committed late, and showing each reader only what its role may see."""

from __future__ import annotations

import pytest
from sqlalchemy.orm import Session, sessionmaker

from domain.enums import Actor
from store import feed, progress
from tests.store import factories as f
from tests.store.helpers import create


def record(db: sessionmaker[Session], cid: str, version: int, *events: object) -> None:
    with db.begin() as session:
        progress.apply_delta(session, f.delta(cid, version, list(events)))  # type: ignore[arg-type]


def head(db: sessionmaker[Session]) -> str:
    with db() as session:
        return feed.encode_position(feed.head(session))


def read_all(
    db: sessionmaker[Session], after: str, merchant: str, role: Actor = Actor.AGENT, limit: int = 2
) -> tuple[list[feed.FeedEvent], str | None]:
    """Every page from `after`, `limit` at a time, as a reader resuming from each next_cursor does."""
    events: list[feed.FeedEvent] = []
    cursor: str | None = after
    while True:
        with db() as session:
            page = feed.read_feed(session, cursor, role, limit=limit, merchant_id=merchant)
        events += page.events
        cursor = page.next_cursor
        if not page.more:
            return events, cursor


def test_the_feed_interleaves_cases_in_commit_order_and_resumes_from_any_cursor(
    db: sessionmaker[Session],
) -> None:
    merchant = f.unique("M")
    start = head(db)
    first, _ = create(db, f.case_request(merchant_id=merchant))
    second, _ = create(db, f.case_request(merchant_id=merchant))
    record(db, first, 1, f.event(first, 1), f.event(first, 2))
    record(db, second, 1, f.event(second, 1))
    record(db, first, 2, f.event(first, 3))

    events, last = read_all(db, start, merchant)
    assert [(e.case_id, e.seq) for e in events] == [(first, 1), (first, 2), (second, 1), (first, 3)]
    assert all(e.actor_role == "system" and e.merchant_id == merchant for e in events)
    # From the second event's cursor: exactly what came after it; from the last: nothing, yet.
    again, _ = read_all(db, events[1].cursor, merchant)
    assert [(e.case_id, e.seq) for e in again] == [(second, 1), (first, 3)]
    assert read_all(db, last or "", merchant)[0] == []
    record(db, second, 2, f.event(second, 2))
    later, _ = read_all(db, last or "", merchant)
    assert [(e.case_id, e.seq) for e in later] == [(second, 2)]


def test_a_foreign_cursor_or_limit_is_refused(db: sessionmaker[Session]) -> None:
    with db() as session, pytest.raises(ValueError, match="cursor"):
        feed.read_feed(session, "bm90LWEtY3Vyc29y", Actor.AGENT)
    with db() as session, pytest.raises(ValueError, match="limit"):
        feed.read_feed(session, None, Actor.AGENT, limit=feed.MAX_PAGE + 1)


def test_readers_see_what_their_role_may_see(db: sessionmaker[Session]) -> None:
    merchant = f.unique("M")
    start = head(db)
    cid, _ = create(db, f.case_request(merchant_id=merchant))
    said: dict[str, object] = {
        "to": "preliminary_review",
        "private": {"statement": "my phone is 138 0000 0000"},
    }
    internal: dict[str, object] = {"visibility": "internal", "text": "customer sounded upset"}
    to_merchant: dict[str, object] = {"visibility": "merchant", "text": "please check the seal"}
    record(
        db,
        cid,
        1,
        f.event(cid, 1, payload=said),
        f.event(cid, 2, "note", payload=internal),
        f.event(cid, 3, "note", payload=to_merchant),
    )
    agent, _ = read_all(db, start, merchant, Actor.AGENT)
    assert agent[0].payload["private"] == said["private"] and agent[1].payload["text"] == internal["text"]
    seen, _ = read_all(db, start, merchant, Actor.MERCHANT)
    assert "private" not in seen[0].payload and seen[0].payload["redacted"] is True
    assert seen[1].payload == {"visibility": "internal", "redacted": True}
    assert seen[2].payload["text"] == "please check the seal"  # a note to the merchant
    ops, _ = read_all(db, start, merchant, Actor.OPS)
    assert "statement" not in str(ops[0].payload) and "upset" not in str(ops[1].payload)


def test_an_event_committed_late_is_not_skipped(db: sessionmaker[Session]) -> None:
    """Writer A begins and records, writer B records and commits, a reader reads; A commits; the
    reader goes on from its cursor and gets A's event (and B's), in the feed's order."""
    if db.kw["bind"].dialect.name != "postgresql":
        pytest.skip("SQLite has one writer at a time: B cannot write while A's transaction is open")
    merchant = f.unique("M")
    start = head(db)
    slow, _ = create(db, f.case_request(merchant_id=merchant))
    quick, _ = create(db, f.case_request(merchant_id=merchant))
    writer_a = db()
    writer_a.begin()
    progress.apply_delta(writer_a, f.delta(slow, 1, [f.event(slow, 1)]))
    writer_a.flush()
    record(db, quick, 1, f.event(quick, 1))  # B commits first

    seen, cursor = read_all(db, start, merchant)
    assert seen == []  # A is in flight: the feed holds back, or B would pass A's event for good

    writer_a.commit()
    writer_a.close()
    after_commit, _ = read_all(db, cursor or start, merchant)
    assert [(e.case_id, e.seq) for e in after_commit] == [(slow, 1), (quick, 1)]
