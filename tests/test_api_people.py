"""People over the API (DESIGN §9): admins create people and their keys, a person's key acts as that
person (events name them), presence is set and shown, and a deactivated person's keys stop working."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from sqlalchemy import update
from sqlalchemy.orm import Session, sessionmaker
from temporalio.client import WorkflowExecutionStatus
from temporalio.testing import WorkflowEnvironment

from domain.names import handback_workflow_id
from domain.people import HandbackOutcome
from store.models import PersonRow
from tests.test_api_roles import headers, open_case
from workflows import search_attributes as sa


async def new_person(client: httpx.AsyncClient, admin_key: str, **body: object) -> dict[str, object]:
    response = await client.post("/v1/admin/people", json=body, headers=headers(admin_key))
    assert response.status_code == 201, response.text
    return dict(response.json())


async def key_of(client: httpx.AsyncClient, admin_key: str, person_id: object) -> str:
    response = await client.post(f"/v1/admin/people/{person_id}/keys", headers=headers(admin_key))
    assert response.status_code == 201, response.text
    return str(response.json()["api_key"])


async def test_a_supervisor_adds_an_agent_who_goes_online_and_acts_as_themselves(
    api_url: str, keys: dict[str, str]
) -> None:
    async with httpx.AsyncClient(base_url=api_url, timeout=30) as client:
        ana = await new_person(
            client, keys["supervisor"], display_name="Ana", role="agent", skills=["refunds", "general"]
        )
        assert ana["presence"] == "offline" and ana["skills"] == ["general", "refunds"] and ana["active"]
        ana_key = await key_of(client, keys["supervisor"], ana["person_id"])

        me = (await client.get("/v1/me", headers=headers(ana_key))).json()
        assert me["role"] == "agent" and me["person"]["person_id"] == ana["person_id"]
        online = await client.put("/v1/me/presence", json={"presence": "online"}, headers=headers(ana_key))
        assert online.status_code == 200 and online.json()["presence"] == "online"
        listed = (await client.get("/v1/admin/people?role=agent", headers=headers(keys["ops"]))).json()
        assert {"person_id": ana["person_id"], "presence": "online"}.items() <= next(
            p for p in listed["items"] if p["person_id"] == ana["person_id"]
        ).items()

        case_id = await open_case(api_url, ana_key)
        noted = await client.post(
            f"/v1/cases/{case_id}/notes",
            json={"text": "called the customer", "visibility": "internal"},
            headers=headers(ana_key),
        )
        assert noted.status_code == 200, noted.text
        actors = {e["actor"] for e in noted.json()["timeline"]}
        assert f"agent:{ana['person_id']}" in actors  # the person, not only a key


async def test_an_online_agent_who_has_been_idle_for_the_away_time_is_shown_away(
    api_url: str, keys: dict[str, str], sessions: sessionmaker[Session]
) -> None:
    async with httpx.AsyncClient(base_url=api_url, timeout=30) as client:
        bo = await new_person(client, keys["supervisor"], display_name="Bo", role="agent")
        bo_key = await key_of(client, keys["supervisor"], bo["person_id"])
        await client.put("/v1/me/presence", json={"presence": "online"}, headers=headers(bo_key))
        with sessions.begin() as session:  # Bo's last request was 6 minutes ago (away after 5)
            session.execute(
                update(PersonRow)
                .where(PersonRow.person_id == bo["person_id"])
                .values(last_seen_at=datetime.now(UTC) - timedelta(minutes=6))
            )
        shown = (await client.get(f"/v1/admin/people/{bo['person_id']}", headers=headers(keys["ops"]))).json()
        assert (shown["presence"], shown["presence_set"]) == ("away", "online")


async def test_a_deactivated_person_keeps_their_record_and_loses_their_keys(
    api_url: str, keys: dict[str, str]
) -> None:
    async with httpx.AsyncClient(base_url=api_url, timeout=30) as client:
        cy = await new_person(
            client, keys["system"], display_name="Cy", role="dispute", person_id="P-cy-test"
        )
        cy_key = await key_of(client, keys["system"], "P-cy-test")
        assert (await client.get("/v1/me", headers=headers(cy_key))).status_code == 200

        done = await client.post("/v1/admin/people/P-cy-test/deactivate", headers=headers(keys["system"]))
        assert done.status_code == 200 and done.json()["keys_revoked"] == 1
        assert done.json()["person"]["active"] is False and done.json()["person"]["presence"] == "offline"
        assert (await client.get("/v1/me", headers=headers(cy_key))).status_code == 401
        again = await client.post("/v1/admin/people/P-cy-test/deactivate", headers=headers(keys["system"]))
        assert again.status_code == 200 and again.json()["keys_revoked"] == 0
        no_key = await client.post("/v1/admin/people/P-cy-test/keys", headers=headers(keys["system"]))
        assert no_key.status_code == 422
        assert cy["person_id"] == "P-cy-test"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"display_name": "X", "role": "system"}, "role"),
        ({"display_name": "X", "role": "merchant"}, "role"),
        ({"display_name": "", "role": "agent"}, "display_name"),
        ({"display_name": "X", "role": "agent", "skills": ["Refunds!"]}, "skills"),
        ({"display_name": "X", "role": "agent", "person_id": "bad id"}, "person_id"),
        ({"display_name": "X", "role": "agent", "presence": "online"}, "presence"),
    ],
)
async def test_a_person_that_cannot_be_is_refused_with_422_naming_the_field(
    api_url: str, keys: dict[str, str], body: dict[str, object], field: str
) -> None:
    async with httpx.AsyncClient(base_url=api_url, timeout=30) as client:
        response = await client.post("/v1/admin/people", json=body, headers=headers(keys["supervisor"]))
    assert response.status_code == 422, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert field in response.text


async def test_who_may_manage_people(api_url: str, keys: dict[str, str]) -> None:
    person = {"display_name": "Dee", "role": "agent"}
    async with httpx.AsyncClient(base_url=api_url, timeout=30) as client:
        for role in ("merchant", "agent", "dispute", "ops"):
            refused = await client.post("/v1/admin/people", json=person, headers=headers(keys[role]))
            assert refused.status_code == 403, role
        assert (await client.get("/v1/admin/people", headers=headers(keys["merchant"]))).status_code == 403
        assert (await client.get("/v1/admin/people", headers=headers(keys["agent"]))).status_code == 403
        ops_person = {"display_name": "Ops", "role": "ops"}
        by_supervisor = await client.post(
            "/v1/admin/people", json=ops_person, headers=headers(keys["supervisor"])
        )
        assert by_supervisor.status_code == 403  # ops people are made by the platform's system key
        twice = {"display_name": "Eve", "role": "agent", "person_id": "P-eve-test"}
        assert (
            await client.post("/v1/admin/people", json=twice, headers=headers(keys["system"]))
        ).status_code == 201
        again = await client.post("/v1/admin/people", json=twice, headers=headers(keys["system"]))
        assert again.status_code == 409
        keyless = await client.put(
            "/v1/me/presence", json={"presence": "online"}, headers=headers(keys["agent"])
        )
        assert keyless.status_code == 409  # a key of no person has no presence
        bad = await client.put("/v1/me/presence", json={"presence": "busy"}, headers=headers(keys["agent"]))
        assert bad.status_code == 422
        unknown = await client.get("/v1/admin/people/P-nobody", headers=headers(keys["ops"]))
        assert unknown.status_code == 404


async def test_two_agents_claim_at_once_one_wins_then_a_supervisor_reassigns_and_it_is_released(
    api_url: str, keys: dict[str, str], dev_env: WorkflowEnvironment
) -> None:
    async with httpx.AsyncClient(base_url=api_url, timeout=30) as client:
        ana = await new_person(client, keys["supervisor"], display_name="Ana", role="agent", skills=["*"])
        bo = await new_person(client, keys["supervisor"], display_name="Bo", role="agent", skills=["*"])
        ana_key = await key_of(client, keys["supervisor"], ana["person_id"])
        bo_key = await key_of(client, keys["supervisor"], bo["person_id"])
        case_id = await open_case(api_url, keys["system"])

        claims = await asyncio.gather(
            *(
                client.post(f"/v1/cases/{case_id}/claim", json={}, headers=headers(k))
                for k in (ana_key, bo_key)
            )
        )
        assert sorted(r.status_code for r in claims) == [200, 409], [r.text for r in claims]
        winner, loser = (ana, bo) if claims[0].status_code == 200 else (bo, ana)
        assert claims[0 if winner is ana else 1].json()["assigned_to"] == winner["person_id"]
        lost = claims[1 if winner is ana else 0]
        assert lost.headers["content-type"].startswith("application/problem+json")
        assert winner["person_id"] in lost.json()["detail"]

        loser_key = bo_key if loser is bo else ana_key
        not_theirs = await client.post(f"/v1/cases/{case_id}/release", json={}, headers=headers(loser_key))
        assert not_theirs.status_code == 409
        reassigned = await client.post(
            f"/v1/cases/{case_id}/assign",
            json={"person_id": loser["person_id"]},
            headers=headers(keys["supervisor"]),
        )
        assert reassigned.status_code == 200 and reassigned.json()["assigned_to"] == loser["person_id"]
        attributes = (
            await dev_env.client.get_workflow_handle(f"case-{case_id}").describe()
        ).typed_search_attributes
        assert attributes.get(sa.ASSIGNED_TO) == loser["person_id"]

        released = await client.post(f"/v1/cases/{case_id}/release", json={}, headers=headers(loser_key))
        assert released.status_code == 200 and released.json()["assigned_to"] is None
        events = (await client.get(f"/v1/cases/{case_id}/events", headers=headers(keys["supervisor"]))).json()
        changes = [e for e in events["events"] if e["kind"] in ("claimed", "assigned", "released")]
        assert [(e["kind"], e["actor"].split(":")[0]) for e in changes] == [
            ("claimed", "agent"),
            ("assigned", "supervisor"),
            ("released", "agent"),
        ]
        assert changes[0]["actor"] == f"agent:{winner['person_id']}"
        assert changes[2]["actor"] == f"agent:{loser['person_id']}"
        assert (changes[1]["payload"]["assigned_from"], changes[1]["payload"]["assigned_to"]) == (
            winner["person_id"],
            loser["person_id"],
        )


async def test_a_case_is_assigned_only_to_an_active_person_who_works_cases(
    api_url: str, keys: dict[str, str]
) -> None:
    async with httpx.AsyncClient(base_url=api_url, timeout=30) as client:
        case_id = await open_case(api_url, keys["system"])
        ops = await new_person(client, keys["system"], display_name="Ops", role="ops")
        gone = await new_person(client, keys["supervisor"], display_name="Gone", role="agent")
        await client.post(
            f"/v1/admin/people/{gone['person_id']}/deactivate", headers=headers(keys["supervisor"])
        )
        elsewhere = await new_person(
            client, keys["supervisor"], display_name="Fay", role="agent", skills=["vip"]
        )
        for person_id in ("P-nobody", ops["person_id"], gone["person_id"], elsewhere["person_id"]):
            refused = await client.post(
                f"/v1/cases/{case_id}/assign",
                json={"person_id": person_id},
                headers=headers(keys["supervisor"]),
            )
            assert refused.status_code == 422 and refused.json()["person_id"] == person_id, refused.text
        keyless = await client.post(f"/v1/cases/{case_id}/claim", json={}, headers=headers(keys["agent"]))
        assert keyless.status_code == 409  # the agent key of no person cannot claim
        view = (await client.get(f"/v1/cases/{case_id}", headers=headers(keys["supervisor"]))).json()
        assert view["assigned_to"] is None


async def test_going_offline_starts_the_grace_period_and_a_deactivated_agent_hands_their_cases_back_at_once(
    api_url: str, keys: dict[str, str], dev_env: WorkflowEnvironment
) -> None:
    async with httpx.AsyncClient(base_url=api_url, timeout=30) as client:
        ana = await new_person(client, keys["supervisor"], display_name="Ana", role="agent", skills=["*"])
        ana_key = await key_of(client, keys["supervisor"], ana["person_id"])
        await client.put("/v1/me/presence", json={"presence": "online"}, headers=headers(ana_key))
        case_id = await open_case(api_url, keys["system"])
        claimed = await client.post(f"/v1/cases/{case_id}/claim", json={}, headers=headers(ana_key))
        assert claimed.status_code == 200 and claimed.json()["assigned_to"] == ana["person_id"]
        inbox = (await client.get("/v1/me/cases", headers=headers(ana_key))).json()
        assert [c["case_id"] for c in inbox["items"]] == [case_id]

        await client.put("/v1/me/presence", json={"presence": "offline"}, headers=headers(ana_key))
        waiting = dev_env.client.get_workflow_handle(handback_workflow_id(str(ana["person_id"])))
        assert (await waiting.describe()).status == WorkflowExecutionStatus.RUNNING  # the grace period
        gone = await client.post(
            f"/v1/admin/people/{ana['person_id']}/deactivate", headers=headers(keys["supervisor"])
        )
        assert gone.status_code == 200

        handback = dev_env.client.get_workflow_handle(
            handback_workflow_id(str(ana["person_id"])), result_type=HandbackOutcome
        )
        outcome = await handback.result()  # the newer one: no grace
        assert outcome.released == [case_id]
        noted = await client.post(  # taken after the hand-back's release
            f"/v1/cases/{case_id}/notes", json={"text": "who has it?"}, headers=headers(keys["supervisor"])
        )
        assert noted.status_code == 200 and noted.json()["assigned_to"] is None
        events = (await client.get(f"/v1/cases/{case_id}/events", headers=headers(keys["supervisor"]))).json()
        released = [e for e in events["events"] if e["kind"] == "released"]
        assert [(e["actor"], e["payload"]["reason"]) for e in released] == [
            ("system:handback", f"handed back: {ana['person_id']} deactivated")
        ]
