"""The HTTP API against a real Temporal dev server, a running worker, the store and the simulator."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker
from temporalio.testing import WorkflowEnvironment

from store.models import CaseRow
from tests.support.cases import kettle_request
from tests.support.waiting import eventually


@pytest.fixture
def body() -> dict[str, Any]:
    return kettle_request(datetime.now(UTC)).model_dump(mode="json")


KEYS: dict[str, str] = {}
ROLE_OF_ACTION = {
    "merchant-response": "merchant",
    "proposal": "agent",
    "inspection": "merchant",
    "return-delivered": "merchant",
}


@pytest.fixture(autouse=True)
def _keys(keys: dict[str, str]) -> None:
    KEYS.update(keys)


def auth(role: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {KEYS[role]}"}


async def post(url: str, path: str, json: object, role: str | None = None, **headers: str) -> httpx.Response:
    if role is None:
        action = path.rsplit("/", 1)[-1]
        role = ROLE_OF_ACTION.get(action, "system") if path.startswith("/v1/cases/") else "system"
    async with httpx.AsyncClient(base_url=url, timeout=30) as client:
        return await client.post(path, json=json, headers={**auth(role), **headers})


async def get(url: str, path: str, role: str = "agent", **params: Any) -> httpx.Response:
    async with httpx.AsyncClient(base_url=url, timeout=30) as client:
        return await client.get(path, headers=auth(role), params=params)


async def json_of(answer: Awaitable[httpx.Response]) -> Any:
    return (await answer).json()


async def test_a_case_created_over_http_is_driven_to_resolved(
    api_url: str, body: dict[str, Any], simulator_url: str
) -> None:
    created = await post(api_url, "/v1/cases", body, **{"Idempotency-Key": "k-resolved-1"})
    assert created.status_code == 201, created.text
    case_id = created.json()["case_id"]
    assert created.json()["workflow_id"] == f"case-{case_id}"

    async def act(action: str, payload: dict[str, Any], *expect_step: str) -> dict[str, Any]:
        # The first action may arrive before the case reaches the step: 409 until it does.
        response = await eventually(
            lambda: post(api_url, f"/v1/cases/{case_id}/{action}", payload),
            lambda r: r.status_code != 409 or action != "merchant-response",
            f"{action} taken",
        )
        assert response.status_code == 200, response.text
        assert response.json()["step"] in expect_step
        return dict(response.json())

    await act("merchant-response", {"accepts_claim": True, "comment": "ok"}, "liability_and_proposal")
    await act(
        "proposal",
        {
            "liability": "merchant",
            "options": [
                {"resolution": "return_and_refund", "refund": {"amount": "129.00", "currency": "CNY"}}
            ],
        },
        "awaiting_customer_decision",
    )
    await act("customer-decision", {"accept_option": 0}, "awaiting_return_shipment")
    await act("return-shipment", {"carrier": "SF", "tracking_no": "SF100"}, "return_in_transit")
    await act("return-delivered", {}, "awaiting_inspection")
    # The refund is tried at once (a local activity): the answer comes once it is paid, unless the
    # provider failed and it goes on retrying at step refunding.
    await act("inspection", {"passed": True}, "follow_up", "refunding")
    response = await eventually(
        lambda: post(api_url, f"/v1/cases/{case_id}/survey", {"csat": 4, "nps": 8}),
        lambda r: r.status_code == 200,
        "the survey taken (once the refund is paid)",
    )
    final = response.json()
    assert final["status"] == "closed" and final["close_reason"] == "resolved"
    assert final["refunded"] == {"amount": "129.00", "currency": "CNY"}

    stored = (await get(api_url, f"/v1/cases/{case_id}")).json()
    assert stored["status"] == "closed" and stored["close_reason"] == "resolved"
    async with httpx.AsyncClient(base_url=simulator_url) as sim:
        ledger = (await sim.get("/v1/ledger", params={"case_id": case_id, "kind": "refund"})).json()
    assert len(ledger["entries"]) == 1


async def test_the_same_idempotency_key_gives_one_case_and_one_workflow(
    api_url: str, body: dict[str, Any], dev_env: WorkflowEnvironment, sessions: sessionmaker[Session]
) -> None:
    first = await post(api_url, "/v1/cases", body, **{"Idempotency-Key": "k-same-1"})
    again = await post(api_url, "/v1/cases", body, **{"Idempotency-Key": "k-same-1"})
    assert (first.status_code, again.status_code) == (201, 200)
    assert first.json()["case_id"] == again.json()["case_id"]
    case_id = first.json()["case_id"]
    with sessions() as session:
        rows = session.scalar(
            select(func.count()).select_from(CaseRow).where(CaseRow.order_id == body["order"]["order_id"])
        )
    assert rows == 1
    runs = [w async for w in dev_env.client.list_workflows(f'WorkflowId = "case-{case_id}"')]
    assert len(runs) == 1

    changed = {**body, "description": "something else"}
    conflict = await post(api_url, "/v1/cases", changed, **{"Idempotency-Key": "k-same-1"})
    assert conflict.status_code == 409
    assert conflict.headers["content-type"].startswith("application/problem+json")


async def test_parallel_duplicate_requests_race_safely(api_url: str, body: dict[str, Any]) -> None:
    responses = await asyncio.gather(
        *(post(api_url, "/v1/cases", body, **{"Idempotency-Key": "k-race-1"}) for _ in range(8))
    )
    assert sorted(r.status_code for r in responses) == [200] * 7 + [201]
    assert len({r.json()["case_id"] for r in responses}) == 1


@pytest.mark.parametrize(
    ("mutate", "field"),
    [
        (lambda b: b.update(issue_type="teleport"), "issue_type"),
        (lambda b: b["order"]["lines"][0]["unit_price"].update(amount="-1.00"), "amount"),
        (lambda b: b["order"]["lines"][0]["unit_price"].update(amount="1.001"), "amount"),
        (lambda b: b["order"].update(paid_at="2026-10-01T10:00:00"), "paid_at"),
        (lambda b: b.update(unknown_field=1), "unknown_field"),
        (lambda b: b.update(line_ids=["L9"]), "line_ids"),
    ],
)
async def test_bad_input_gets_a_problem_document_and_writes_nothing(
    api_url: str, body: dict[str, Any], mutate: Any, field: str, sessions: sessionmaker[Session]
) -> None:
    mutate(body)
    response = await post(api_url, "/v1/cases", body)
    assert response.status_code == 422
    assert response.headers["content-type"].startswith("application/problem+json")
    assert field in response.text
    with sessions() as session:
        assert (
            session.scalar(
                select(func.count()).select_from(CaseRow).where(CaseRow.order_id == body["order"]["order_id"])
            )
            == 0
        )


async def test_malformed_json_oversized_bodies_and_unknown_cases_are_4xx(api_url: str) -> None:
    async with httpx.AsyncClient(base_url=api_url, headers=auth("system")) as client:
        bad_json = await client.post(
            "/v1/cases", content=b"{not json", headers={"Content-Type": "application/json"}
        )
        huge = await client.post(
            "/v1/cases", content=b"x" * 300_000, headers={"Content-Type": "application/json"}
        )
        missing = await client.get("/v1/cases/AS20261122ZZZZZZZZ")
        bad_id = await client.get("/v1/cases/..%2Fetc")
        action_on_missing = await client.post(
            "/v1/cases/AS20261122ZZZZZZZZ/survey", json={"csat": 5, "nps": 9}
        )
    assert bad_json.status_code == 422
    assert huge.status_code == 413
    assert missing.status_code == 404
    assert bad_id.status_code in (404, 422)
    assert action_on_missing.status_code == 404
    for response in (bad_json, huge, missing, action_on_missing):
        assert response.headers["content-type"].startswith("application/problem+json")


async def test_health_readiness_and_openapi(api_url: str) -> None:
    assert (await get(api_url, "/healthz")).json() == {"status": "ok"}
    assert (await get(api_url, "/readyz")).status_code == 200
    spec = (await get(api_url, "/openapi.json")).json()
    assert "/v1/cases/{case_id}/merchant-response" in spec["paths"]
    assert (await get(api_url, "/docs")).status_code == 200


async def test_an_action_the_current_step_does_not_take_is_409_and_changes_nothing(
    api_url: str, body: dict[str, Any]
) -> None:
    created = await post(api_url, "/v1/cases", body)
    case_id = created.json()["case_id"]
    before = await eventually(
        lambda: json_of(get(api_url, f"/v1/cases/{case_id}")),
        lambda view: view["step"] == "merchant_verification",
        "the case at merchant_verification",
    )
    refused = await post(api_url, f"/v1/cases/{case_id}/survey", {"csat": 5, "nps": 9}, role="system")
    assert refused.status_code == 409, refused.text
    assert refused.headers["content-type"].startswith("application/problem+json")
    assert "merchant_verification" in refused.json()["detail"]
    after = (await get(api_url, f"/v1/cases/{case_id}")).json()
    assert (after["step"], after["timeline"]) == (before["step"], before["timeline"])
