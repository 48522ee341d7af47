"""Money, dates, visibility and idempotency over real HTTP (issue 13): every amount bounded, every
read scoped, every key its caller's own."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from store.models import CaseRow
from tests.support.cases import kettle_request
from tests.support.waiting import eventually

MONEY_129 = {"amount": "129.00", "currency": "CNY"}


def cny(amount: str) -> dict[str, str]:
    return {"amount": amount, "currency": "CNY"}


class Api:
    def __init__(self, url: str, keys: dict[str, str]) -> None:
        self.url = url
        self.keys = keys

    async def post(self, path: str, body: Any, role: str = "system", **headers: str) -> httpx.Response:
        async with httpx.AsyncClient(base_url=self.url, timeout=30) as client:
            auth = {"Authorization": f"Bearer {self.keys[role]}"}
            return await client.post(path, json=body, headers={**auth, **headers})

    async def get(self, path: str, role: str = "agent", **params: Any) -> httpx.Response:
        async with httpx.AsyncClient(base_url=self.url, timeout=30) as client:
            return await client.get(
                path, headers={"Authorization": f"Bearer {self.keys[role]}"}, params=params
            )

    async def open(self, body: dict[str, Any], role: str = "system", **headers: str) -> str:
        response = await self.post("/v1/cases", body, role, **headers)
        assert response.status_code == 201, response.text
        return str(response.json()["case_id"])

    async def at_step(self, case_id: str, step: str) -> dict[str, Any]:
        """The case once it waits at `step` (the workflow gets there a moment after an action)."""

        async def view() -> dict[str, Any]:
            return dict((await self.get(f"/v1/cases/{case_id}")).json())

        return await eventually(view, lambda v: v["step"] == step, f"{case_id} at {step}")

    async def act(
        self, case_id: str, action: str, body: dict[str, Any], role: str, **headers: str
    ) -> httpx.Response:
        return await self.post(f"/v1/cases/{case_id}/{action}", body, role, **headers)


@pytest.fixture
def api(api_url: str, keys: dict[str, str]) -> Api:
    return Api(api_url, keys)


def kettle(order_id: str | None = None, **overrides: Any) -> dict[str, Any]:
    body = kettle_request(datetime.now(UTC), order_id=order_id).model_dump(mode="json")
    body.update(overrides)
    return body


async def refund_in_full_and_close(api: Api, case_id: str) -> None:
    await api.at_step(case_id, "merchant_verification")
    assert (
        await api.act(case_id, "merchant-response", {"accepts_claim": True}, "merchant")
    ).status_code == 200
    proposal = {"liability": "merchant", "options": [{"resolution": "refund_only", "refund": MONEY_129}]}
    assert (await api.act(case_id, "proposal", proposal, "agent")).status_code == 200
    assert (await api.act(case_id, "customer-decision", {"accept_option": 0}, "system")).status_code == 200
    await api.at_step(case_id, "follow_up")
    assert (await api.act(case_id, "survey", {"csat": 5, "nps": 9}, "system")).status_code == 200
    await api.at_step(case_id, "closed")


# --- money ------------------------------------------------------------------------------------


async def test_a_second_case_on_a_fully_refunded_line_gets_no_money_but_may_ask_for_a_repair(
    api: Api,
) -> None:
    body = kettle(issue_type="refund_only", reason="missing_item")
    first = await api.open(body)
    await refund_in_full_and_close(api, first)

    second = await api.open({**body, "issue_type": "repair", "reason": "quality_issue"})
    await api.at_step(second, "merchant_verification")
    await api.act(second, "merchant-response", {"accepts_claim": True}, "merchant")
    view = (await api.get(f"/v1/cases/{second}")).json()
    assert view["refundable"] == cny("0.00")
    refund = {"liability": "merchant", "options": [{"resolution": "refund_only", "refund": cny("1.00")}]}
    refused = await api.act(second, "proposal", refund, "agent")
    assert refused.status_code == 422, refused.text
    assert "nothing is left to refund" in refused.json()["detail"]
    repair = {"liability": "merchant", "options": [{"resolution": "repair"}]}
    assert (await api.act(second, "proposal", repair, "agent")).status_code == 200


async def test_a_case_may_refund_only_what_earlier_cases_of_its_line_left(api: Api) -> None:
    body = kettle(issue_type="refund_only", reason="missing_item")
    first = await api.open(body)
    await api.at_step(first, "merchant_verification")
    await api.act(first, "merchant-response", {"accepts_claim": True}, "merchant")
    partial = {
        "liability": "merchant",
        "options": [{"resolution": "partial_refund", "refund": cny("100.00")}],
    }
    await api.act(first, "proposal", partial, "agent")
    await api.act(first, "customer-decision", {"accept_option": 0}, "system")
    await api.at_step(first, "follow_up")
    await api.act(first, "survey", {"csat": 3, "nps": 5}, "system")
    await api.at_step(first, "closed")

    second = await api.open(body)
    await api.at_step(second, "merchant_verification")
    await api.act(second, "merchant-response", {"accepts_claim": True}, "merchant")
    too_much = {"liability": "merchant", "options": [{"resolution": "refund_only", "refund": cny("30.00")}]}
    refused = await api.act(second, "proposal", too_much, "agent")
    assert refused.status_code == 422 and "29.00" in refused.json()["detail"]
    rest = {"liability": "merchant", "options": [{"resolution": "refund_only", "refund": cny("29.00")}]}
    assert (await api.act(second, "proposal", rest, "agent")).status_code == 200


@pytest.mark.parametrize(
    ("ruling", "why"),
    [
        ({"resolution": "refund_only", "refund": cny("1290.00")}, "exceeds what is left"),
        ({"resolution": "refund_only", "refund": {"amount": "129.00", "currency": "USD"}}, "in CNY"),
        ({"resolution": "refund_only", "refund": cny("0.00")}, "greater than zero"),
        ({"resolution": "compensation", "compensation": cny("9999999.00")}, "cap"),
    ],
)
async def test_a_dispute_ruling_beyond_what_the_case_allows_is_422_and_changes_nothing(
    api: Api, ruling: dict[str, Any], why: str
) -> None:
    case_id = await api.open(kettle())
    await api.at_step(case_id, "merchant_verification")
    await api.act(case_id, "escalation", {"reason": "customer insists"}, "agent")
    before = await api.at_step(case_id, "dispute_evidence")
    refused = await api.act(
        case_id, "dispute-ruling", {"liability": "merchant", "resolution": ruling}, "dispute"
    )
    assert refused.status_code == 422, refused.text
    assert why in refused.json()["detail"]
    after = (await api.get(f"/v1/cases/{case_id}")).json()
    assert (after["step"], after["timeline"]) == (before["step"], before["timeline"])


@pytest.mark.parametrize("option", [{"resolution": "partial_refund", "refund": cny("0.00")},
                                    {"resolution": "compensation", "compensation": cny("0.00")}])  # fmt: skip
async def test_a_proposal_of_nothing_is_422(api: Api, option: dict[str, Any]) -> None:
    case_id = await api.open(kettle())
    await api.at_step(case_id, "merchant_verification")
    await api.act(case_id, "merchant-response", {"accepts_claim": True}, "merchant")
    refused = await api.act(case_id, "proposal", {"liability": "merchant", "options": [option]}, "agent")
    assert refused.status_code == 422, refused.text


@pytest.mark.parametrize(
    "lines",
    [
        [{"quantity": 2, "unit_price": cny("10000000.00")}],
        [{"quantity": 1, "unit_price": cny("6000000.00")}, {"quantity": 1, "unit_price": cny("6000000.00")}],
    ],
)
async def test_order_totals_beyond_the_limit_are_422_never_500(
    api: Api, lines: list[dict[str, Any]], sessions: sessionmaker[Session]
) -> None:
    body = kettle()
    template = body["order"]["lines"][0]
    body["order"]["lines"] = [{**template, **line, "line_id": f"L{i + 1}"} for i, line in enumerate(lines)]
    body["line_ids"] = [line["line_id"] for line in body["order"]["lines"]]
    response = await api.post("/v1/cases", body)
    assert response.status_code == 422, response.text
    assert "must not exceed" in response.json()["detail"]
    with sessions() as session:
        stored = (
            select(func.count()).select_from(CaseRow).where(CaseRow.order_id == body["order"]["order_id"])
        )
        assert session.scalar(stored) == 0


@pytest.mark.parametrize("amount", ["0", "0.00", "-0", " 129.00", "129.00 ", "1e2", "+129.00"])
async def test_a_unit_price_must_be_a_plain_decimal_string_above_zero(api: Api, amount: str) -> None:
    body = kettle()
    body["order"]["lines"][0]["unit_price"]["amount"] = amount
    response = await api.post("/v1/cases", body)
    assert response.status_code == 422, response.text


async def test_a_unit_price_given_as_a_json_number_is_422(api: Api) -> None:
    body = kettle()
    body["order"]["lines"][0]["unit_price"]["amount"] = 129
    assert (await api.post("/v1/cases", body)).status_code == 422


async def test_a_second_case_naming_another_price_for_a_recorded_line_is_422(api: Api) -> None:
    body = kettle(issue_type="refund_only", reason="missing_item")
    first = await api.open(body)
    await refund_in_full_and_close(api, first)
    body["order"]["lines"][0]["unit_price"] = cny("999.00")
    response = await api.post("/v1/cases", body)
    assert response.status_code == 422 and "recorded as paid 129.00 CNY" in response.json()["detail"]


# --- dates ------------------------------------------------------------------------------------


def _shift(days: float) -> str:
    return (datetime.now(UTC) + timedelta(days=days)).isoformat()


@pytest.mark.parametrize(
    ("order", "field"),
    [
        ({"paid_at": "0001-01-01T00:00:00+00:00", "delivered_at": None}, "paid_at"),
        ({"paid_at": "9999-12-01T00:00:00+00:00", "delivered_at": "9999-12-02T00:00:00+00:00"}, "paid_at"),
        ({"paid_at": _shift(30), "delivered_at": None}, "paid_at"),
        ({"paid_at": _shift(-3), "delivered_at": _shift(20)}, "delivered_at"),
        ({"paid_at": _shift(-3), "delivered_at": _shift(-5)}, "delivered_at"),
    ],
)
async def test_order_dates_that_cannot_be_true_are_422(
    api: Api, order: dict[str, Any], field: str, sessions: sessionmaker[Session]
) -> None:
    body = kettle()
    body["order"].update(order)
    response = await api.post("/v1/cases", body)
    assert response.status_code == 422, response.text
    assert field in response.text
    with sessions() as session:
        stored = (
            select(func.count()).select_from(CaseRow).where(CaseRow.order_id == body["order"]["order_id"])
        )
        assert session.scalar(stored) == 0


@pytest.mark.parametrize(
    "params",
    [
        {"start": "0001-01-01T09:00:00+00:00", "hours": "24"},
        {"start": "9999-12-31T09:00:00+00:00", "hours": "24"},
        {"start": "2099-12-01T09:00:00+08:00", "hours": "2000"},
        {"start": "2026-10-01T09:00:00+08:00", "hours": "100000"},
    ],
)
async def test_the_deadline_calculator_answers_422_outside_what_the_calendar_knows(
    api: Api, params: dict[str, str]
) -> None:
    response = await api.get("/v1/calendars/business/deadline", **params)
    assert response.status_code == 422, response.text
    assert response.headers["content-type"].startswith("application/problem+json")


# --- reads ------------------------------------------------------------------------------------


async def test_internal_notes_reach_no_merchant_and_no_ops_on_any_read_path(api: Api) -> None:
    case_id = await api.open(kettle())
    await api.at_step(case_id, "merchant_verification")
    secret = "customer sounds like a reseller, check the account"
    to_merchant = "please send a photo of the packed parcel"
    await api.act(case_id, "notes", {"text": secret, "visibility": "internal"}, "agent")
    await api.act(case_id, "notes", {"text": to_merchant, "visibility": "merchant"}, "agent")

    async def everything_read_by(role: str) -> str:
        parts = [
            (await api.get(f"/v1/cases/{case_id}", role)).text,
            (await api.get(f"/v1/cases/{case_id}/events", role)).text,
            (await api.get("/v1/cases", role, limit=200)).text,
        ]
        return "\n".join(parts)

    for role in ("merchant", "ops", "system"):
        assert secret not in await everything_read_by(role), role
    assert to_merchant in await everything_read_by("merchant")
    assert to_merchant not in await everything_read_by("ops")
    for role in ("agent", "supervisor", "dispute"):
        assert secret in (await api.get(f"/v1/cases/{case_id}/events", role)).text


# --- idempotency ------------------------------------------------------------------------------


async def test_an_action_key_again_with_another_body_or_for_another_action_is_409(api: Api) -> None:
    case_id = await api.open(kettle())
    await api.at_step(case_id, "merchant_verification")
    key = {"Idempotency-Key": f"act-{case_id}"}
    first = await api.act(case_id, "notes", {"text": "first"}, "agent", **key)
    assert first.status_code == 200, first.text
    again = await api.act(case_id, "notes", {"text": "first"}, "agent", **key)
    assert again.status_code == 200
    other_body = await api.act(case_id, "notes", {"text": "second"}, "agent", **key)
    assert other_body.status_code == 409 and "different request body" in other_body.json()["detail"]
    other_action = await api.act(case_id, "escalation", {"reason": "x"}, "agent", **key)
    assert other_action.status_code == 409 and "used for notes" in other_action.json()["detail"]
    view = (await api.get(f"/v1/cases/{case_id}")).json()
    assert view["step"] == "merchant_verification"
    assert sum(1 for e in view["timeline"] if e["kind"] == "note") == 1


async def test_an_idempotency_key_belongs_to_its_caller(api: Api) -> None:
    body = kettle()
    key = {"Idempotency-Key": f"shared-{body['order']['order_id']}"}
    system_case = await api.open(body, "system", **key)
    replay = await api.post("/v1/cases", body, "agent", **key)
    # The agent's key is another key: no replay of the system's case; the line is simply taken.
    assert replay.status_code == 409, replay.text
    assert replay.json()["type"] == "/problems/open-case-exists"
    assert (await api.post("/v1/cases", body, "system", **key)).json()["case_id"] == system_case


async def test_action_keys_of_different_callers_do_not_replay_each_other(api: Api) -> None:
    case_id = await api.open(kettle())
    await api.at_step(case_id, "merchant_verification")
    key = {"Idempotency-Key": f"note-{case_id}"}
    assert (await api.act(case_id, "notes", {"text": "by the agent"}, "agent", **key)).status_code == 200
    assert (
        await api.act(case_id, "notes", {"text": "by the supervisor"}, "supervisor", **key)
    ).status_code == 200
    events = (await api.get(f"/v1/cases/{case_id}/events", "agent")).json()["events"]
    texts = [e["payload"].get("private", {}).get("text") for e in events if e["kind"] == "note"]
    assert texts == ["by the agent", "by the supervisor"]


def test_money_strings_parse_exactly() -> None:
    from domain.money import Money

    assert Money.model_validate({"amount": "129.5", "currency": "CNY"}).amount == Decimal("129.50")
