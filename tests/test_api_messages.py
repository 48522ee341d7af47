"""A case's conversation over the API (DESIGN §9): who writes in which thread, who reads what, the
platform's messages leaving through the messaging provider on the contact's channel with their
delivery status, and the first-response clock a customer message starts."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from temporalio.testing import WorkflowEnvironment

from tests.support.waiting import eventually
from tests.test_api_roles import headers, open_case, other_merchant_key

__all__ = ["other_merchant_key"]  # the fixture, used by name

TEXT = "still leaking after the first fix"


async def post(client: httpx.AsyncClient, key: str, case_id: str, **body: Any) -> httpx.Response:
    return await client.post(f"/v1/cases/{case_id}/messages", json=body, headers=headers(key))


async def read(client: httpx.AsyncClient, key: str, case_id: str) -> list[dict[str, Any]]:
    response = await client.get(f"/v1/cases/{case_id}/messages", headers=headers(key))
    assert response.status_code == 200, response.text
    return list(response.json()["items"])


async def test_customer_merchant_and_platform_each_see_only_their_threads_and_replies_go_out_by_sms(
    api_url: str, keys: dict[str, str], simulator_url: str, dev_env: WorkflowEnvironment
) -> None:
    case_id = await open_case(api_url, keys["system"])
    async with httpx.AsyncClient(base_url=api_url, timeout=30) as client:
        asked = await post(client, keys["system"], case_id, text=TEXT, visibility="customer")
        assert asked.status_code == 201, asked.text
        assert asked.json()["author"] == "customer" and asked.json()["author_party"] == "customer"
        customer_message = asked.json()["message_id"]
        clock = dev_env.client.get_workflow_handle(f"reply-{customer_message}")
        assert (await clock.describe()).status is not None  # its first-response clock runs

        merchant = await post(
            client, keys["merchant"], case_id, text="we will check the batch", visibility="merchant"
        )
        note = await post(
            client, keys["agent"], case_id, text="customer sounds upset; VIP?", visibility="internal"
        )
        reply = await post(
            client, keys["agent"], case_id, text="sorry, a refund is on its way", visibility="customer"
        )
        to_merchant = await post(client, keys["agent"], case_id, text="please inspect", visibility="merchant")
        assert [r.status_code for r in (merchant, note, reply, to_merchant)] == [201] * 4
        assert reply.json()["channel"] == "sms" and reply.json()["delivery_status"] == "queued"
        assert to_merchant.json()["channel"] == "push" and note.json()["channel"] is None

        seen_by_merchant = await read(client, keys["merchant"], case_id)
        assert [m["text"] for m in seen_by_merchant] == ["we will check the batch", "please inspect"]
        assert all(m["author"] in ("merchant", "platform") for m in seen_by_merchant)  # no person ids
        seen_by_shop = await read(client, keys["system"], case_id)
        assert [m["text"] for m in seen_by_shop] == [TEXT, "sorry, a refund is on its way"]
        seen_by_agent = await read(client, keys["agent"], case_id)
        assert len(seen_by_agent) == 5 and seen_by_agent[0]["replied_at"] is not None  # the reply stopped it

        for key in (keys["merchant"], keys["system"]):  # no internal text anywhere they can read
            events = await client.get(f"/v1/cases/{case_id}/events", headers=headers(key))
            view = await client.get(f"/v1/cases/{case_id}", headers=headers(key))
            assert "VIP?" not in events.text and "VIP?" not in view.text

        async def sent() -> bool:
            mine = await read(client, keys["agent"], case_id)
            return all(m["delivery_status"] == "sent" for m in mine if m["channel"])

        await eventually(sent, bool, "both outbound messages sent")
        async with httpx.AsyncClient(base_url=simulator_url) as simulator:
            ledger = await simulator.get("/v1/ledger", params={"case_id": case_id, "kind": "notification"})
        records = [e["record"] for e in ledger.json()["entries"] if e["record"].get("channel")]
        assert {(r["channel"], r["to"], r["message"]) for r in records} == {
            ("sms", "+86 138 0000 0000", "sorry, a refund is on its way"),
            ("push", "M-100", "please inspect"),
        }

        async def answered() -> bool:
            return (await read(client, keys["agent"], case_id))[0]["first_response_seconds"] is not None

        await eventually(answered, bool, "the clock recorded the first response")


@pytest.mark.parametrize(
    ("role", "body", "status"),
    [
        ("merchant", {"text": "hi", "visibility": "customer"}, 422),  # a merchant writes in its thread
        ("system", {"text": "hi", "visibility": "internal"}, 422),  # the customer cannot write notes
        ("ops", {"text": "hi", "visibility": "internal"}, 403),  # ops only read
        ("agent", {"text": "x" * 4001, "visibility": "internal"}, 413),
        ("agent", {"text": "", "visibility": "internal"}, 422),
        ("agent", {"text": "hi", "visibility": "everyone"}, 422),
        ("agent", {"text": "hi", "visibility": "internal", "urgent": True}, 422),
    ],
)
async def test_a_message_that_cannot_be_is_refused_and_nothing_is_stored(
    api_url: str, keys: dict[str, str], role: str, body: dict[str, Any], status: int
) -> None:
    case_id = await open_case(api_url, keys["system"])
    async with httpx.AsyncClient(base_url=api_url, timeout=30) as client:
        response = await client.post(f"/v1/cases/{case_id}/messages", json=body, headers=headers(keys[role]))
        assert response.status_code == status, response.text
        assert response.headers["content-type"].startswith("application/problem+json")
        assert await read(client, keys["agent"], case_id) == []


async def test_a_closed_case_takes_no_message_and_stays_closed(api_url: str, keys: dict[str, str]) -> None:
    case_id = await open_case(api_url, keys["system"])
    async with httpx.AsyncClient(base_url=api_url, timeout=30) as client:
        closed = await client.post(
            f"/v1/cases/{case_id}/withdrawal", json={"reason": "found it"}, headers=headers(keys["system"])
        )
        assert closed.status_code == 200 and closed.json()["status"] == "closed", closed.text
        refused = await post(client, keys["agent"], case_id, text="anything else?", visibility="customer")
        assert refused.status_code == 409 and "closed" in refused.json()["detail"]
        view = await client.get(f"/v1/cases/{case_id}", headers=headers(keys["agent"]))
        assert view.json()["status"] == "closed" and await read(client, keys["agent"], case_id) == []


async def test_another_merchants_case_has_no_conversation_for_them(
    api_url: str, keys: dict[str, str], other_merchant_key: str
) -> None:
    case_id = await open_case(api_url, keys["system"], merchant="M-100")
    async with httpx.AsyncClient(base_url=api_url, timeout=30) as client:
        assert (
            await client.get(f"/v1/cases/{case_id}/messages", headers=headers(other_merchant_key))
        ).status_code == 404
        posted = await post(client, other_merchant_key, case_id, text="hi", visibility="merchant")
        assert posted.status_code == 404


async def test_the_thread_pages_with_an_opaque_cursor(api_url: str, keys: dict[str, str]) -> None:
    case_id = await open_case(api_url, keys["system"])
    async with httpx.AsyncClient(base_url=api_url, timeout=30) as client:
        for n in range(3):
            assert (
                await post(client, keys["agent"], case_id, text=f"note {n}", visibility="internal")
            ).status_code == 201
        first = (
            await client.get(f"/v1/cases/{case_id}/messages?limit=2", headers=headers(keys["agent"]))
        ).json()
        cursor = first["next_cursor"]
        assert cursor and all(c.isalnum() or c in "-_" for c in cursor)  # safe in a URL as it is
        rest = await client.get(
            f"/v1/cases/{case_id}/messages?limit=2&after={cursor}", headers=headers(keys["agent"])
        )
        texts = [m["text"] for m in first["items"] + rest.json()["items"]]
        assert texts == ["note 0", "note 1", "note 2"] and rest.json()["next_cursor"] is None
