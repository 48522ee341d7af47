"""Assignment reads (DESIGN §9): who should work a case (auto-assignment, a local activity of the case
workflow), and which cases an offline person hands back (the hand-back workflow)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy.orm import Session, sessionmaker

from activities import contracts as c
from activities.definition import defn
from domain.people import Presence
from store import cases, people
from store.db import reading

DEFAULT_QUEUE = "general"


class AssignmentActivities:
    def __init__(self, sessions: sessionmaker[Session], away_after: timedelta) -> None:
        self._sessions = reading(sessions)  # both activities only read: the workflow decides
        self._away_after = away_after  # AFTERSALES_PRESENCE_AWAY_AFTER_SECONDS: `online` shown `away`

    @defn(name=c.PICK_ASSIGNEE)
    def pick_assignee(self, request: c.AssigneeRequest) -> c.AssigneePick:
        """The active agent shown `online` with the queue's skill who holds the fewest open cases
        (ties: the lowest person id); nobody when no such agent is online. Reads only: the workflow
        assigns, so its history says who got the case."""
        with self._sessions() as session:
            queue = request.queue
            if queue is None:
                row = cases.get_case(session, request.case_id)
                queue = row.queue if row is not None else DEFAULT_QUEUE
            pick = people.least_loaded_agent(session, queue, datetime.now(UTC), self._away_after)
        if pick is None:
            return c.AssigneePick(queue=queue)
        return c.AssigneePick(person_id=pick.person_id, queue=queue, open_cases=pick.open_cases)

    @defn(name=c.CASES_TO_HAND_BACK)
    def cases_to_hand_back(self, request: c.HandbackRequest) -> c.HandbackCases:
        """At the end of the grace period: the person's open cases if they are still `offline` (or
        deactivated); none if they came back (`online` or `away` as they set it)."""
        with self._sessions() as session:
            row = people.get_person(session, request.person_id)
            if row is None:
                return c.HandbackCases(kept_because=f"no person {request.person_id}")
            if row.active and row.presence != Presence.OFFLINE.value:
                return c.HandbackCases(kept_because=f"{request.person_id} is back ({row.presence})")
            return c.HandbackCases(case_ids=people.open_case_ids_held(session, request.person_id))
