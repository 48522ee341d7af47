"""Routing, priority and queues over HTTP (issue 15).

The fast scenarios run the real app on a database of their own, with a gateway that records the
workflow input instead of starting a workflow: what intake decides (queue, priority and why, the
shortened limits handed to the workflow) is all in that input and the case row. One scenario runs a
real case on the dev server, to see the workflow's own view and deadlines carry them.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any, cast

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from api.app import create_app
from core.settings import Settings
from domain.enums import Step
from domain.models import CaseInput
from store import cases
from store.db import make_engine, make_session_factory
from store.keys import create_api_key
from store.migrate import upgrade
from tests.support.cases import kettle_request
from tests.support.databases import scratch_database
from tests.support.keys import vault_for_tests
from tests.support.waiting import eventually
from workflows import search_attributes as sa

ROLES = ("system", "agent", "supervisor", "dispute", "merchant", "ops")
RULES = "/v1/admin/routing/rules"


class RecordingGateway:
    """Stands in for Temporal: keeps each workflow input the API would start a case with."""

    def __init__(self) -> None:
        self.started: dict[str, CaseInput] = {}

    async def start_case(self, inp: CaseInput) -> None:
        self.started[inp.case_id] = inp


class Api:
    def __init__(self, client: TestClient, keys: dict[str, str], gateway: RecordingGateway) -> None:
        self.client, self.keys, self.gateway = client, keys, gateway
        self.sessions: sessionmaker[Session] = client.app.state.ctx.sessions  # type: ignore[attr-defined]

    def as_(self, role: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.keys[role]}"}

    def get(self, path: str, role: str = "agent", **params: Any) -> httpx.Response:
        return self.client.get(path, headers=self.as_(role), params=params)

    def put_rules(self, rules: list[dict[str, Any]], role: str = "supervisor") -> httpx.Response:
        return self.client.put(RULES, json={"rules": rules}, headers=self.as_(role))

    def open(self, role: str = "system", key: str | None = None, **overrides: Any) -> dict[str, Any]:
        body = case_body(**overrides)
        extra = {"Idempotency-Key": key} if key else {}
        response = self.client.post("/v1/cases", json=body, headers={**self.as_(role), **extra})
        assert response.status_code in (200, 201), response.text
        return dict(response.json())


def case_body(
    merchant: str = "M-100",
    customer: str | None = None,
    price: str = "129.00",
    vip: bool = False,
    category: str = "appliances",
    **overrides: Any,
) -> dict[str, Any]:
    body = kettle_request(datetime.now(UTC), price=price).model_dump(mode="json")
    body["order"].update(merchant_id=merchant, customer_id=customer or f"C-{uuid.uuid4().hex[:8]}", vip=vip)
    body["order"]["lines"][0]["category"] = category
    body.update(overrides)
    return body


@pytest.fixture(scope="module")
def api(settings: Settings, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    with scratch_database(tmp_path_factory.mktemp("routing"), "aftersales_routing") as url:
        upgrade(url)
        engine = make_engine(url)
        keys: dict[str, str] = {}
        with make_session_factory(engine, vault_for_tests()).begin() as session:
            for role in ROLES:
                keys[role] = create_api_key(session, role, "M-100" if role == "merchant" else None, role)[1]
        engine.dispose()
        app = create_app(settings.model_copy(update={"database_url": url}), client=cast(Client, object()))
        gateway = RecordingGateway()
        with TestClient(app) as client:
            client.app.state.ctx.gateway = gateway  # type: ignore[attr-defined]
            yield Api(client, keys, gateway)


# --- the admin table -----------------------------------------------------------------------------

TABLE: list[dict[str, Any]] = [
    {"queue": "complaints", "name": "every complaint", "issue_types": ["complaint"]},
    {"queue": "escalations", "priorities": ["urgent"]},
    {
        "queue": "high-value",
        "min_amount": {"amount": "2000.00", "currency": "CNY"},
        "categories": ["appliances"],
    },
    {"queue": "key-accounts", "merchant_ids": ["M-KEY"], "channels": ["hotline", "chat"]},
]


def test_a_supervisor_replaces_the_table_and_reads_it_back_with_who_did_it(
    api: Api, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="audit.routing")
    answer = api.put_rules(TABLE)
    assert answer.status_code == 200, answer.text
    read = api.get(RULES, role="system").json()
    assert [rule["queue"] for rule in read["rules"]] == [
        "complaints",
        "escalations",
        "high-value",
        "key-accounts",
    ]
    assert read["rules"][2]["min_amount"] == {"amount": "2000.00", "currency": "CNY"}
    assert read["default_queue"] == "general" and read["changed_by"].startswith("supervisor:")
    assert read["changed_by"] in caplog.text and "4 rule(s)" in caplog.text


@pytest.mark.parametrize(
    ("rule", "field"),
    [
        ({"queue": "Not A Queue"}, "rules.0.queue"),
        ({"queue": "x" * 41}, "rules.0.queue"),
        ({"queue": "q", "colour": "red"}, "rules.0.colour"),
        ({"queue": "q", "issue_types": ["teleport"]}, "rules.0.issue_types.0"),
        ({"queue": "q", "issue_types": []}, "rules.0.issue_types"),
        (
            {
                "queue": "q",
                "min_amount": {"amount": "900.00", "currency": "CNY"},
                "max_amount": {"amount": "100.00", "currency": "CNY"},
            },
            "rules.0",
        ),
        (
            {
                "queue": "q",
                "min_amount": {"amount": "1.00", "currency": "CNY"},
                "max_amount": {"amount": "100.00", "currency": "USD"},
            },
            "rules.0",
        ),
        ({"queue": "q", "min_amount": {"amount": "-1", "currency": "CNY"}}, "rules.0.min_amount.amount"),
    ],
)
def test_a_bad_rule_is_422_naming_the_field_and_nothing_is_written(
    api: Api, rule: dict[str, Any], field: str
) -> None:
    assert api.put_rules(TABLE).status_code == 200
    before = api.get(RULES, role="supervisor").json()
    answer = api.put_rules([rule])
    assert answer.status_code == 422, answer.text
    assert answer.headers["content-type"].startswith("application/problem+json")
    assert field in {error["field"] for error in answer.json()["errors"]}, answer.json()
    assert api.get(RULES, role="supervisor").json() == before


def test_a_table_of_more_than_500_rules_is_422_and_a_later_bad_rule_spoils_the_whole_table(api: Api) -> None:
    before = api.get(RULES, role="supervisor").json()
    too_many = api.put_rules([{"queue": "q"}] * 501)
    assert too_many.status_code == 422 and too_many.json()["errors"][0]["field"] == "rules"
    half_good = api.put_rules([{"queue": "fine"}, {"queue": "BAD"}])
    assert half_good.status_code == 422 and half_good.json()["errors"][0]["field"] == "rules.1.queue"
    assert api.get(RULES, role="supervisor").json() == before


@pytest.mark.parametrize("role", ["agent", "dispute", "merchant", "ops"])
def test_only_admin_roles_read_or_change_the_table(api: Api, role: str) -> None:
    assert api.get(RULES, role=role).status_code == 403
    assert api.put_rules([], role=role).status_code == 403


# --- intake --------------------------------------------------------------------------------------


def stored_row(api: Api, case_id: str) -> tuple[str, str, str | None]:
    with api.sessions() as session:
        row = cases.get_case(session, case_id)
        assert row is not None
        return row.queue, row.priority, row.priority_reason


def test_a_vip_complaint_lands_in_complaints_urgent_with_half_the_limits(api: Api) -> None:
    api.put_rules(TABLE)
    created = api.open(vip=True, issue_type="complaint")
    assert created["queue"] == "complaints"  # the first matching rule, though escalations matches too
    assert (created["priority"], created["priority_reason"]) == ("urgent", "complaint; VIP order")
    case_id = created["case_id"]
    assert stored_row(api, case_id) == ("complaints", "urgent", "complaint; VIP order")
    inp = api.gateway.started[case_id]
    assert (inp.queue, inp.priority, inp.priority_reason) == ("complaints", "urgent", "complaint; VIP order")
    assert inp.policy.priority == "urgent"
    assert inp.policy.limits[Step.MERCHANT_VERIFICATION].hours == Decimal("12")
    assert inp.policy.limits[Step.AWAITING_CUSTOMER_DECISION].hours == Decimal("72")  # the customer's
    view = api.get(f"/v1/cases/{case_id}").json()
    assert (view["queue"], view["priority"]) == ("complaints", "urgent")


def test_an_ordinary_case_goes_to_the_default_queue_with_its_given_priority(api: Api) -> None:
    api.put_rules(TABLE)
    created = api.open(merchant="M-ELSEWHERE")
    assert (created["queue"], created["priority"]) == ("general", "normal")
    assert created["priority_reason"] == "given by the caller: normal"
    inp = api.gateway.started[created["case_id"]]
    assert inp.policy.limits[Step.MERCHANT_VERIFICATION].hours == Decimal("24")


def test_amount_and_category_route_a_high_value_case(api: Api) -> None:
    api.put_rules(TABLE)
    created = api.open(price="2500.00")
    assert created["queue"] == "high-value"
    assert created["priority"] == "high"
    assert created["priority_reason"] == "amount 2500.00 CNY at or above 1000.00 CNY"
    assert api.gateway.started[created["case_id"]].policy.limits[Step.LIABILITY_AND_PROPOSAL].hours == 6
    cheaper = api.open(price="2500.00", category="digital")
    assert cheaper["queue"] == "general"  # same amount, a category the rule does not name


def test_a_repeat_claimant_is_high_priority_from_the_second_case(api: Api) -> None:
    api.put_rules([])
    customer = f"C-{uuid.uuid4().hex[:8]}"
    first = api.open(customer=customer)
    second = api.open(customer=customer)
    assert first["priority"] == "normal"
    assert second["priority"] == "high"
    assert second["priority_reason"] == "repeat claimant: 1 earlier case(s) in 30 days"


def test_channel_and_merchant_route_key_accounts(api: Api) -> None:
    api.put_rules(TABLE)
    assert api.open(merchant="M-KEY", channel="hotline")["queue"] == "key-accounts"
    assert api.open(merchant="M-KEY", channel="app")["queue"] == "general"


def test_a_repeated_request_keeps_the_queue_and_priority_it_was_given(api: Api) -> None:
    api.put_rules(TABLE)
    body, key = case_body(issue_type="complaint"), f"k-{uuid.uuid4().hex}"
    headers = {**api.as_("system"), "Idempotency-Key": key}
    first = api.client.post("/v1/cases", json=body, headers=headers)
    api.put_rules([])  # the table changes; the case does not move, and a retry says where it is
    again = api.client.post("/v1/cases", json=body, headers=headers)
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json()["case_id"] == first.json()["case_id"]
    assert (again.json()["queue"], again.json()["priority"]) == ("complaints", "high")
    assert stored_row(api, first.json()["case_id"])[:2] == ("complaints", "high")


def test_the_published_policy_carries_the_priority_factors(api: Api) -> None:
    published = api.client.get("/v1/policies").json()["priority"]
    assert published["factors"] == {"low": "1", "normal": "1", "high": "0.75", "urgent": "0.5"}
    assert published["high_amount"] == {"amount": "1000.00", "currency": "CNY"}
    assert published["repeat_claimant_days"] == 30


# --- queues --------------------------------------------------------------------------------------


def test_queues_show_depth_oldest_and_breached_and_list_their_cases_in_pages(api: Api) -> None:
    queue = f"q-{uuid.uuid4().hex[:8]}"
    merchant = f"M-{uuid.uuid4().hex[:8]}"
    api.put_rules([{"queue": queue, "merchant_ids": [merchant]}])
    opened = [api.open(merchant=merchant)["case_id"] for _ in range(3)]
    with api.sessions.begin() as session:  # what the workflow's store writes would say
        for n, case_id in enumerate(opened):
            row = cases.get_case(session, case_id)
            assert row is not None
            row.due_at = datetime(2026, 12, 1, tzinfo=UTC) + timedelta(hours=n)
            row.sla_breached = n == 2
    listed = {q["queue"]: q for q in api.get("/v1/queues", role="ops").json()["queues"]}
    assert listed[queue]["depth"] == 3 and listed[queue]["breached"] == 1
    assert listed[queue]["oldest_created_at"] is not None
    assert listed["general"]["depth"] >= 0  # the default queue is always listed
    seen: list[str] = []
    cursor = None
    while True:
        page = api.get(f"/v1/queues/{queue}/cases", limit=2, **({"cursor": cursor} if cursor else {})).json()
        seen += [item["case_id"] for item in page["items"]]
        assert all(item["queue"] == queue for item in page["items"])
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == [opened[2], opened[0], opened[1]]  # breached first, then by due time


def test_the_queue_list_pages_by_name(api: Api) -> None:
    names = sorted(f"pq-{uuid.uuid4().hex[:6]}-{n}" for n in range(3))
    assert (
        api.put_rules([{"queue": name, "merchant_ids": [f"M-{name}"]} for name in names]).status_code == 200
    )
    everything = [q["queue"] for q in api.get("/v1/queues", limit=200).json()["queues"]]
    assert everything == sorted(everything) and set(names) <= set(everything)
    paged: list[str] = []
    cursor = None
    while True:
        page = api.get("/v1/queues", limit=2, **({"cursor": cursor} if cursor else {})).json()
        assert len(page["queues"]) <= 2
        paged += [q["queue"] for q in page["queues"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert paged == everything
    assert api.get("/v1/queues", cursor="Not A Queue!").status_code == 422


@pytest.mark.parametrize("role", ["system", "agent", "supervisor", "dispute", "ops"])
def test_platform_roles_read_queues(api: Api, role: str) -> None:
    assert api.get("/v1/queues", role=role).status_code == 200
    assert api.get("/v1/queues/general/cases", role=role).status_code == 200


def test_a_merchant_sees_no_queue(api: Api) -> None:
    for path in ("/v1/queues", "/v1/queues/general/cases"):
        answer = api.get(path, role="merchant")
        assert answer.status_code == 403
        assert answer.headers["content-type"].startswith("application/problem+json")


@pytest.mark.parametrize(
    ("path", "params"),
    [
        ("/v1/queues/Not%20A%20Queue/cases", {}),
        ("/v1/queues/general/cases", {"cursor": "bm90LWEtY3Vyc29y"}),
        ("/v1/queues/general/cases", {"limit": 1000}),
    ],
)
def test_bad_queue_requests_are_422(api: Api, path: str, params: dict[str, Any]) -> None:
    answer = api.get(path, **params)
    assert answer.status_code == 422, answer.text
    assert answer.headers["content-type"].startswith("application/problem+json")


# --- a real case on the dev server ---------------------------------------------------------------


async def test_a_urgent_case_runs_with_half_the_merchant_limit_and_shows_its_queue(
    api_url: str, keys: dict[str, str], dev_env: WorkflowEnvironment
) -> None:
    auth = {"Authorization": f"Bearer {keys['system']}"}
    async with httpx.AsyncClient(base_url=api_url, timeout=30, headers=auth) as client:
        urgent = await client.post("/v1/cases", json=case_body(vip=True, issue_type="complaint"))
        normal = await client.post("/v1/cases", json=case_body())
        assert urgent.status_code == normal.status_code == 201, urgent.text

        async def waiting(case_id: str) -> dict[str, Any]:
            async def view() -> dict[str, Any]:
                return dict((await client.get(f"/v1/cases/{case_id}")).json())

            def at_merchant(v: dict[str, Any]) -> bool:
                return v["step"] == "merchant_verification" and bool(v["sla"])

            return await eventually(view, at_merchant, f"{case_id} waiting for the merchant")

        fast, slow = await waiting(urgent.json()["case_id"]), await waiting(normal.json()["case_id"])
    assert (fast["priority"], fast["priority_reason"]) == ("urgent", "complaint; VIP order")
    assert fast["queue"] == slow["queue"] == urgent.json()["queue"] == normal.json()["queue"]
    merchant_clock = next(c for c in fast["sla"] if c["clock"] == "merchant_verification")
    assert merchant_clock["limit"] == "12 working h"
    assert next(c for c in slow["sla"] if c["clock"] == "merchant_verification")["limit"] == "24 working h"
    assert fast["deadlines"]["merchant_verification"] < slow["deadlines"]["merchant_verification"]
    described = await dev_env.client.get_workflow_handle(fast["workflow_id"]).describe()
    assert described.typed_search_attributes.get(sa.PRIORITY) == "urgent"


# --- my inbox ------------------------------------------------------------------------------------


def person_with_key(api: Api, skills: list[str]) -> tuple[str, dict[str, str]]:
    made = api.client.post(
        "/v1/admin/people",
        json={"display_name": "Ana", "role": "agent", "skills": skills},
        headers=api.as_("supervisor"),
    )
    assert made.status_code == 201, made.text
    person_id = made.json()["person_id"]
    key = api.client.post(f"/v1/admin/people/{person_id}/keys", headers=api.as_("supervisor"))
    assert key.status_code == 201, key.text
    return person_id, {"Authorization": f"Bearer {key.json()['api_key']}"}


def test_an_agents_inbox_lists_their_open_cases_breached_first_then_by_due_time_in_pages(api: Api) -> None:
    ana, as_ana = person_with_key(api, ["*"])
    bo, _ = person_with_key(api, ["*"])
    opened = [api.open()["case_id"] for _ in range(5)]
    with api.sessions.begin() as session:  # what the workflow's store writes would say
        for n, case_id in enumerate(opened):
            row = cases.get_case(session, case_id)
            assert row is not None
            row.assigned_to = bo if n == 3 else ana  # the fourth is Bo's
            row.due_at = datetime(2026, 12, 1, tzinfo=UTC) + timedelta(hours=n)
            row.sla_breached = n == 2
            if n == 4:
                row.status = "closed"  # done: out of the inbox
    seen: list[str] = []
    cursor = None
    while True:
        params = {"limit": 1, **({"cursor": cursor} if cursor else {})}
        page = api.client.get("/v1/me/cases", headers=as_ana, params=params)
        assert page.status_code == 200, page.text
        assert page.json()["person_id"] == ana
        seen += [item["case_id"] for item in page.json()["items"]]
        cursor = page.json()["next_cursor"]
        if cursor is None:
            break
    assert seen == [opened[2], opened[0], opened[1]]  # breached first, then by due time


def test_an_inbox_is_a_persons_and_a_merchant_has_none(api: Api) -> None:
    keyless = api.get("/v1/me/cases", role="agent")  # the agent key of no person
    assert keyless.status_code == 409 and keyless.headers["content-type"].startswith(
        "application/problem+json"
    )
    merchant = api.get("/v1/me/cases", role="merchant")
    assert merchant.status_code == 403 and merchant.headers["content-type"].startswith(
        "application/problem+json"
    )
    _, as_ana = person_with_key(api, ["general"])
    foreign = api.client.get("/v1/me/cases", headers=as_ana, params={"cursor": "bm90LWEtY3Vyc29y"})
    assert foreign.status_code == 422
