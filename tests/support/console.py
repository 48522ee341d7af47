"""Helpers of the console's browser tests: Debian's Chromium driven by Playwright, and cases walked
over the API to the step a test needs."""

from __future__ import annotations

import os
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import httpx

from tests.support.cases import kettle_request
from tests.support.waiting import eventually

CHROMIUM = os.environ.get("AFTERSALES_TEST_CHROMIUM", "/usr/bin/chromium")


def headers(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


async def case_view(api_url: str, key: str, case_id: str) -> dict[str, Any]:
    async with httpx.AsyncClient(base_url=api_url, timeout=30) as client:
        response = await client.get(f"/v1/cases/{case_id}", headers=headers(key))
    response.raise_for_status()
    return dict(response.json())


async def wait_for(
    api_url: str, key: str, case_id: str, done: Callable[[dict[str, Any]], bool]
) -> dict[str, Any]:
    """The case's view once `done` holds for it (the store is written by the worker a moment later)."""
    return await eventually(lambda: case_view(api_url, key, case_id), done, f"case {case_id} as expected")


async def open_case(
    api_url: str, keys: dict[str, str], merchant: str = "M-100", price: str = "129.00"
) -> str:
    body = kettle_request(datetime.now(UTC), price=price).model_dump(mode="json")
    body["order"]["merchant_id"] = merchant
    async with httpx.AsyncClient(base_url=api_url, timeout=30) as client:
        response = await client.post("/v1/cases", json=body, headers=headers(keys["system"]))
    assert response.status_code == 201, response.text
    case_id = str(response.json()["case_id"])
    view = await wait_for(api_url, keys["system"], case_id, lambda v: v["step"] == "merchant_verification")
    assert view["step"] == "merchant_verification", view["step"]
    return case_id


async def act(api_url: str, key: str, case_id: str, path: str, body: dict[str, Any]) -> dict[str, Any]:
    async with httpx.AsyncClient(base_url=api_url, timeout=30) as client:
        response = await client.post(f"/v1/cases/{case_id}/{path}", json=body, headers=headers(key))
    assert response.status_code == 200, response.text
    return dict(response.json())


async def case_at_proposal(api_url: str, keys: dict[str, str], price: str = "2000.00") -> str:
    case_id = await open_case(api_url, keys, price=price)
    await act(api_url, keys["merchant"], case_id, "merchant-response", {"accepts_claim": True})
    await wait_for(api_url, keys["system"], case_id, lambda v: v["step"] == "liability_and_proposal")
    return case_id


async def case_awaiting_approval(api_url: str, keys: dict[str, str]) -> str:
    """A refund above the approval threshold (500 CNY): the case waits for a supervisor."""
    case_id = await case_at_proposal(api_url, keys)
    option = {"resolution": "refund_only", "refund": {"amount": "2000.00", "currency": "CNY"}, "note": "full"}
    await act(api_url, keys["agent"], case_id, "proposal", {"liability": "merchant", "options": [option]})
    view = await wait_for(api_url, keys["system"], case_id, lambda v: v["step"] == "awaiting_approval")
    assert view["step"] == "awaiting_approval", view["step"]
    return case_id
