"""Roles and ownership (OWASP API1/API5), the read endpoints, published limits, admin calendar and
freeze endpoints, metrics and the codec server — all over real HTTP against the dev server."""

from __future__ import annotations

import base64
import logging
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from sqlalchemy.orm import Session, sessionmaker

from api.auth import ACTION_ROLES
from domain.enums import Action
from store.keys import create_api_key
from tests.support.cases import kettle_request
from tests.support.waiting import eventually

ROLES = ("system", "agent", "supervisor", "dispute", "merchant", "ops")
SAMPLES: dict[Action, dict[str, Any]] = {
    Action.CUSTOMER_INFO: {"description": "more detail"},
    Action.MERCHANT_RESPONSE: {"accepts_claim": True},
    Action.PROPOSAL: {
        "liability": "merchant",
        "options": [{"resolution": "refund_only", "refund": {"amount": "1.00", "currency": "CNY"}}],
    },
    Action.APPROVAL: {"decision": "approve", "comment": "ok"},
    Action.CUSTOMER_DECISION: {"accept_option": 0},
    Action.RETURN_SHIPMENT: {"carrier": "SF", "tracking_no": "SF1"},
    Action.RETURN_DELIVERED: {},
    Action.OUTBOUND_DELIVERED: {},
    Action.INSPECTION: {"passed": True},
    Action.REPLACEMENT_SHIPMENT: {"carrier": "SF", "tracking_no": "SF2"},
    Action.ESCALATION: {"reason": "needs review"},
    Action.DISPUTE_EVIDENCE: {
        "party": "merchant",
        "statement": "the item left the warehouse intact",
        "evidence": [{"kind": "image", "url": "https://cdn.example.com/e/packed.jpg"}],
    },
    Action.DISPUTE_RULING: {
        "liability": "merchant",
        "resolution": {"resolution": "refund_only", "refund": {"amount": "1.00", "currency": "CNY"}},
    },
    Action.WITHDRAWAL: {"reason": "changed my mind"},
    Action.APPEAL: {"reason": "unfair"},
    Action.SURVEY: {"csat": 5, "nps": 10},
    Action.NOTES: {"text": "called the customer", "visibility": "internal"},
    Action.SECOND_REMEDY: {"reason": "still leaking after the refund"},
    Action.CLAIM: {},
    Action.ASSIGN: {"person_id": "P-nobody"},
    Action.RELEASE: {},
}


def headers(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


async def open_case(api_url: str, key: str, merchant: str = "M-100") -> str:
    body = kettle_request(datetime.now(UTC)).model_dump(mode="json")
    body["order"]["merchant_id"] = merchant
    async with httpx.AsyncClient(base_url=api_url, timeout=30) as client:
        response = await client.post("/v1/cases", json=body, headers=headers(key))
    assert response.status_code == 201, response.text
    return str(response.json()["case_id"])


@pytest.fixture(scope="module")
def other_merchant_key(sessions: sessionmaker[Session]) -> str:
    with sessions.begin() as session:
        return create_api_key(session, "merchant", "M-200", "another merchant")[1]


async def test_every_role_on_every_action_endpoint(api_url: str, keys: dict[str, str]) -> None:
    case_id = await open_case(api_url, keys["system"])
    async with httpx.AsyncClient(base_url=api_url, timeout=30) as client:
        for action, payload in SAMPLES.items():
            for role in ROLES:
                response = await client.post(
                    f"/v1/cases/{case_id}/{action.path}", json=payload, headers=headers(keys[role])
                )
                # An agent approves only with an away approver's delegation (api/delegation.py).
                delegated_only = action == Action.APPROVAL and role == "agent"
                if role in ACTION_ROLES[action] and not delegated_only:
                    assert response.status_code not in (401, 403), (action, role, response.text)
                elif delegated_only:
                    assert response.status_code == 403 and "delegation" in response.text
                else:
                    assert response.status_code == 403, (action, role, response.text)
                    assert response.headers["content-type"].startswith("application/problem+json")
        for role in ROLES:  # every role reads
            for path in (
                f"/v1/cases/{case_id}",
                f"/v1/cases/{case_id}/events",
                "/v1/cases",
                "/v1/reports/kpis",
            ):
                assert (await client.get(path, headers=headers(keys[role]))).status_code == 200, (role, path)
        creators = {
            role: (await client.post("/v1/cases", json={}, headers=headers(keys[role]))).status_code
            for role in ROLES
        }
    assert {r for r, status in creators.items() if status != 403} == {"system", "agent"}


async def test_without_a_valid_key_nothing_is_answered(api_url: str) -> None:
    async with httpx.AsyncClient(base_url=api_url) as client:
        none = await client.get("/v1/cases")
        wrong = await client.get("/v1/cases", headers=headers("ask_not-a-key"))
    assert none.status_code == wrong.status_code == 401
    assert none.headers["www-authenticate"] == "Bearer"


async def test_a_merchant_never_sees_another_merchants_case(
    api_url: str, keys: dict[str, str], other_merchant_key: str
) -> None:
    case_id = await open_case(api_url, keys["system"], merchant="M-100")
    async with httpx.AsyncClient(base_url=api_url, headers=headers(other_merchant_key)) as client:
        assert (await client.get(f"/v1/cases/{case_id}")).status_code == 404
        assert (await client.get(f"/v1/cases/{case_id}/events")).status_code == 404
        assert (
            await client.post(f"/v1/cases/{case_id}/merchant-response", json={"accepts_claim": True})
        ).status_code == 404
        listed = (await client.get("/v1/cases", params={"merchant_id": "M-100"})).json()
        assert listed["items"] == []
        own = (await client.get("/v1/cases")).json()
        assert all(item["merchant_id"] == "M-200" for item in own["items"])


async def test_contact_details_are_masked_for_merchants_and_ops(api_url: str, keys: dict[str, str]) -> None:
    case_id = await open_case(api_url, keys["system"])
    async with httpx.AsyncClient(base_url=api_url) as client:
        agent = (await client.get(f"/v1/cases/{case_id}", headers=headers(keys["agent"]))).json()["contact"]
        merchant = (await client.get(f"/v1/cases/{case_id}", headers=headers(keys["merchant"]))).json()[
            "contact"
        ]
        ops = (await client.get(f"/v1/cases/{case_id}", headers=headers(keys["ops"]))).json()["contact"]
    assert agent["phone"] == "+86 138 0000 0000" and not agent["masked"]
    for masked in (merchant, ops):
        assert masked["masked"] and "0000 0000" not in masked["phone"] and masked["name"] == "张*"


async def test_the_timeline_and_cursor_pages(api_url: str, keys: dict[str, str]) -> None:
    case_ids = [await open_case(api_url, keys["system"]) for _ in range(3)]
    async with httpx.AsyncClient(base_url=api_url, headers=headers(keys["agent"])) as client:

        async def events_of_first() -> list[dict[str, Any]]:
            return list((await client.get(f"/v1/cases/{case_ids[0]}/events")).json()["events"])

        events = await eventually(events_of_first, lambda e: len(e) >= 2, "the first case's first events")
        assert events[0]["kind"] == "intake" and events[0]["actor"].startswith("system:")
        seen: list[str] = []
        cursor = None
        while True:
            params: dict[str, Any] = {"limit": 2, **({"cursor": cursor} if cursor else {})}
            page = (await client.get("/v1/cases", params=params)).json()
            seen += [item["case_id"] for item in page["items"]]
            cursor = page["next_cursor"]
            if not cursor:
                break
        assert set(case_ids) <= set(seen) and len(seen) == len(set(seen))
        for bad in (
            {"limit": 100000},
            {"cursor": "not base64!"},
            {"status": "teleported"},
            {"merchant_id": "x' OR 1=1 --"},
        ):
            response = await client.get("/v1/cases", params=bad)
            assert response.status_code == 422, (bad, response.text)


async def test_published_limits_and_the_deadline_calculator(api_url: str) -> None:
    async with httpx.AsyncClient(base_url=api_url) as client:
        policies = (await client.get("/v1/policies")).json()
        due = await client.get(
            "/v1/calendars/business/deadline", params={"start": "2026-09-30T17:00:00+08:00", "hours": "24"}
        )
        unknown = await client.get(
            "/v1/calendars/lunar/deadline", params={"start": "2026-09-30T17:00:00+08:00", "hours": 1}
        )
        naive = await client.get(
            "/v1/calendars/business/deadline", params={"start": "2026-09-30T17:00:00", "hours": 1}
        )
    merchant = next(limit for limit in policies["limits"] if limit["step"] == "merchant_verification")
    assert merchant["limit"] == "24 working h" and merchant["calendar"] == "business"
    assert due.json()["due"] == "2026-10-10T14:00:00+08:00"
    assert unknown.status_code == 404 and naive.status_code == 422


async def test_adding_a_holiday_over_the_api_moves_running_deadlines(
    api_url: str, keys: dict[str, str], dev_env: Any
) -> None:
    case_id = await open_case(api_url, keys["system"], merchant="M-HOL-API")
    async with httpx.AsyncClient(base_url=api_url, timeout=30, headers=headers(keys["supervisor"])) as client:

        async def case_now() -> dict[str, Any]:
            return dict((await client.get(f"/v1/cases/{case_id}")).json())

        def due(case: dict[str, Any]) -> datetime:
            return datetime.fromisoformat(case["deadlines"]["merchant_verification"])

        case = await eventually(
            case_now, lambda c: "merchant_verification" in c["deadlines"], "the merchant's deadline"
        )
        before = datetime.fromisoformat(case["deadlines"]["merchant_verification"])
        holiday = before.astimezone(before.tzinfo).date()
        refused = await client.post(
            "/v1/admin/calendars/business/overrides",
            json={"date": holiday.isoformat(), "merchant_id": "M-HOL-API"},
            headers=headers(keys["merchant"]),
        )
        assert refused.status_code == 403
        added = await client.post(
            "/v1/admin/calendars/business/overrides",
            json={"date": holiday.isoformat(), "merchant_id": "M-HOL-API", "note": "inventory"},
        )
        assert added.status_code == 201 and added.json()["signalled"] >= 1
        case = await eventually(case_now, lambda c: due(c) != before, "the deadline moved by the holiday")
        assert due(case).date() > holiday
        frozen = await client.post(
            "/v1/admin/freeze", json={"merchant_id": "M-HOL-API", "reason": "Spring Festival"}
        )
        assert frozen.status_code == 200 and frozen.json()["signalled"] >= 1
        await eventually(
            case_now, lambda c: bool(c["sla"] and c["sla"][0]["frozen_since"]), "the clock frozen"
        )
        thawed = await client.post("/v1/admin/thaw", json={"merchant_id": "M-HOL-API"})
        assert thawed.status_code == 200


async def test_metrics_are_exposed_in_prometheus_format(api_url: str, keys: dict[str, str]) -> None:
    await open_case(api_url, keys["system"])
    async with httpx.AsyncClient(base_url=api_url) as client:
        text = (await client.get("/metrics")).text
    assert 'aftersales_http_requests_total{method="POST",route="/v1/cases",status="201"}' in text
    assert "aftersales_cases_started_total" in text and "aftersales_http_request_seconds_bucket" in text


async def test_the_codec_server_decodes_for_ops_only_and_audits_it(
    api_url: str, keys: dict[str, str], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="audit.codec")
    plain = {
        "metadata": {"encoding": base64.b64encode(b"json/plain").decode()},
        "data": base64.b64encode('{"name":"张三"}'.encode()).decode(),
    }
    async with httpx.AsyncClient(base_url=api_url) as client:
        encoded = await client.post("/codec/encode", json={"payloads": [plain]}, headers=headers(keys["ops"]))
        assert encoded.status_code == 200
        sealed = encoded.json()["payloads"][0]
        assert "张三".encode() not in base64.b64decode(sealed["data"])
        denied = await client.post(
            "/codec/decode", json={"payloads": [sealed]}, headers=headers(keys["merchant"])
        )
        decoded = await client.post(
            "/codec/decode", json={"payloads": [sealed]}, headers=headers(keys["ops"])
        )
        preflight = await client.options(
            "/codec/decode",
            headers={"Origin": "http://127.0.0.1:8233", "Access-Control-Request-Method": "POST"},
        )
    assert denied.status_code == 403
    assert decoded.json()["payloads"][0]["data"] == plain["data"]
    assert preflight.headers.get("access-control-allow-origin") == "http://127.0.0.1:8233"
    assert any("codec decode by ops" in r.getMessage() for r in caplog.records)
