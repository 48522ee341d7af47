"""Auto-assignment's choice in the store (DESIGN §9): the active agent shown `online` with the queue's
skill (`*` counts) who holds the fewest open cases; ties go to the lowest person id."""

from __future__ import annotations

import uuid
from datetime import timedelta

from sqlalchemy.orm import Session, sessionmaker

from domain.people import Presence
from store import cases, people
from store.people import Pick
from tests.store import factories as f

AWAY_AFTER = timedelta(minutes=5)


def test_the_least_loaded_online_agent_with_the_skill_is_picked_ties_by_person_id(
    db: sessionmaker[Session],
) -> None:
    queue = f"q-{uuid.uuid4().hex[:10]}"
    tag = queue[2:]

    def person(name: str, skills: list[str], role: str = "agent", seen: timedelta = timedelta(0)) -> str:
        with db.begin() as session:
            row = people.create_person(session, name, role, skills, f"P-{tag}-{name}")
            row.presence, row.last_seen_at = Presence.ONLINE.value, f.NOW - seen
            return row.person_id

    def holds(person_id: str, *, closed: bool = False) -> None:
        req, cid = f.case_request(), f.case_id()
        with db.begin() as session:
            row, _ = cases.create_case(session, cid, f"case-{cid}", None, req, f.initial_view(cid, req))
            row.assigned_to, row.status = person_id, "closed" if closed else row.status

    def pick() -> Pick | None:
        with db() as session:
            return people.least_loaded_agent(session, queue, f.NOW, AWAY_AFTER)

    assert pick() is None  # nobody works this queue yet
    every = person("a-every", ["*"])
    holds(every)
    holds(every, closed=True)  # a closed case is no load
    b, c = person("b", [queue]), person("c", ["other", queue])
    person("0-supervisor", [queue], role="supervisor")
    person("0-away", [queue], seen=timedelta(minutes=6))
    person("0-unskilled", ["other"])
    gone = person("0-gone", [queue])
    with db.begin() as session:
        people.deactivate_person(session, gone)

    assert pick() == Pick(b, 0)  # b and c hold none: the lower id
    holds(b)
    holds(b)
    assert pick() == Pick(c, 0)
    holds(c)
    assert pick() == Pick(every, 1)  # `*` is every queue's skill; one open case each: the lower id
