"""Callback tasks over the API (seed 003 四): the agent who held the case sees it in their list and
records the outcome once; supervisors see everyone's."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import httpx
from sqlalchemy.orm import Session, sessionmaker

from domain.enums import Step
from store import cases, keys, people, progress
from tests.store import factories as f
from tests.store.helpers import create
from tests.test_api_roles import headers

SHANGHAI = ZoneInfo("Asia/Shanghai")


def agent_with_key(sessions: sessionmaker[Session], name: str) -> tuple[str, str]:
    person_id = f"P-cb-{name}-{uuid.uuid4().hex[:6]}"
    with sessions.begin() as session:
        people.create_person(session, name, "agent", ["*"], person_id)
        return person_id, keys.create_api_key(session, "agent", label=name, person_id=person_id)[1]


def callback_for(sessions: sessionmaker[Session], person_id: str, due: datetime) -> str:
    cid, _ = create(sessions, f.case_request(), at=datetime.now(UTC) - timedelta(days=3))
    with sessions.begin() as session:
        row = cases.get_case(session, cid)
        assert row is not None
        row.assigned_to = person_id
    event = f.event(
        cid, 1, "callback_scheduled", step=Step.FOLLOW_UP, payload={"callback_at": due.isoformat()}
    )
    with sessions.begin() as session:
        progress.apply_delta(session, f.delta(cid, 1, [event], view=f.step_fields(Step.FOLLOW_UP, at=due)))
    return cid


async def test_the_agent_calls_back_records_the_outcome_once_and_a_late_one_is_marked_late(
    api_url: str, keys: dict[str, str], sessions: sessionmaker[Session]
) -> None:
    ana, ana_key = agent_with_key(sessions, "ana")
    _, bo_key = agent_with_key(sessions, "bo")
    today = callback_for(sessions, ana, datetime.now(UTC))
    overdue = callback_for(sessions, ana, datetime.now(UTC) - timedelta(days=2))
    async with httpx.AsyncClient(base_url=api_url, timeout=30) as client:
        mine = (await client.get("/v1/me/callbacks", headers=headers(ana_key))).json()["items"]
        assert [c["case_id"] for c in mine] == [overdue, today]  # by due time
        everyone = await client.get(
            "/v1/callbacks", params={"assignee": ana}, headers=headers(keys["supervisor"])
        )
        assert {c["case_id"] for c in everyone.json()["items"]} == {today, overdue}
        assert (await client.get("/v1/callbacks", headers=headers(keys["merchant"]))).status_code == 403

        not_hers = await client.post(
            f"/v1/cases/{today}/callback", json={"outcome": "solved"}, headers=headers(bo_key)
        )
        assert not_hers.status_code == 409
        bad = await client.post(
            f"/v1/cases/{today}/callback", json={"outcome": "maybe"}, headers=headers(ana_key)
        )
        assert bad.status_code == 422
        done = await client.post(
            f"/v1/cases/{today}/callback", json={"outcome": "solved"}, headers=headers(ana_key)
        )
        assert done.status_code == 200 and done.json()["late"] is False and done.json()["status"] == "done"
        listed = (await client.get("/v1/me/callbacks", headers=headers(ana_key))).json()["items"]
        assert [c["overdue"] for c in listed] == [True]  # two days past: a missing callback so far
        late = await client.post(
            f"/v1/cases/{overdue}/callback",
            json={"outcome": "unreachable", "note": "no answer"},
            headers=headers(ana_key),
        )
        assert late.status_code == 200 and late.json()["late"] is True
        again = await client.post(
            f"/v1/cases/{today}/callback", json={"outcome": "solved"}, headers=headers(ana_key)
        )
        assert again.status_code == 409
        # Unreachable: called again the next desk day (09:00 Shanghai), attempts 2 and 3, then no more.
        next_due = datetime.fromisoformat(late.json()["next_attempt_due_at"])
        assert next_due > datetime.now(UTC) and next_due.astimezone(SHANGHAI).hour == 9
        for attempt in (2, 3):
            pending = (await client.get("/v1/me/callbacks", headers=headers(ana_key))).json()["items"]
            assert [(c["case_id"], c["attempt"]) for c in pending] == [(overdue, attempt)]
            retry = await client.post(
                f"/v1/cases/{overdue}/callback", json={"outcome": "unreachable"}, headers=headers(ana_key)
            )
            assert retry.status_code == 200
        assert retry.json()["next_attempt_due_at"] is None  # the third call was the last
        assert (await client.get("/v1/me/callbacks", headers=headers(ana_key))).json()["items"] == []
        # Not solved: the case is sent back for a second remedy; this one has no running workflow.
        unsolved = callback_for(sessions, ana, datetime.now(UTC))
        answer = await client.post(
            f"/v1/cases/{unsolved}/callback",
            json={"outcome": "not_solved", "note": "still leaks"},
            headers=headers(ana_key),
        )
        assert answer.status_code == 200 and answer.json()["second_remedy"].startswith("not started:")
        keyless = await client.get("/v1/me/callbacks", headers=headers(keys["agent"]))
        assert keyless.status_code == 409
