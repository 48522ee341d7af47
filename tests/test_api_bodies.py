"""Request bodies the API must not take at face value: bodies over the limit however they are framed,
JSON objects that name a key twice, and JSON that is not JSON (audit items 11 and 15)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker
from starlette.types import Message, Receive, Scope, Send

from api.body_guard import BodyGuard, duplicate_keys
from core.settings import Settings
from store.models import CaseRow
from tests.support.cases import kettle_request


@pytest.fixture
def body() -> dict[str, Any]:
    return kettle_request(datetime.now(UTC)).model_dump(mode="json")


def headers(key: str, **extra: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}", "Content-Type": "application/json", **extra}


def stored_cases(sessions: sessionmaker[Session], order_id: str) -> int:
    with sessions() as session:
        query = select(func.count()).select_from(CaseRow).where(CaseRow.order_id == order_id)
        return int(session.scalar(query) or 0)


def with_key_twice(body: dict[str, Any], key: str, first: object) -> bytes:
    """The body's JSON with `"key": first` written once more before the body's own `key`."""
    text = json.dumps(body)
    return ('{"' + key + '": ' + json.dumps(first) + ", " + text[1:]).encode()


async def test_a_chunked_body_over_the_limit_is_refused_with_413(
    api_url: str, keys: dict[str, str], settings: Settings
) -> None:
    """No Content-Length: the limit holds on the bytes actually sent."""
    oversized = settings.max_body_bytes + 4096

    async def chunks() -> AsyncIterator[bytes]:
        sent = 0
        while sent < oversized:
            yield b" " * 1024
            sent += 1024

    async with httpx.AsyncClient(base_url=api_url, timeout=30) as client:
        answer = await client.post("/v1/cases", content=chunks(), headers=headers(keys["system"]))
    assert answer.request.headers.get("transfer-encoding") == "chunked"
    assert "content-length" not in answer.request.headers
    assert answer.status_code == 413, answer.text
    assert answer.headers["content-type"].startswith("application/problem+json")
    assert str(settings.max_body_bytes) in answer.json()["detail"]


async def refuse(chunks: list[bytes], max_body_bytes: int, drain_bytes: int) -> tuple[int, bool, int]:
    """Drive the guard as ASGI over `chunks`: (chunks it asked for, whether the route ran, status)."""
    asked = 0
    app_ran = False
    sent: list[Message] = []

    async def receive() -> Message:
        nonlocal asked
        asked += 1
        return {"type": "http.request", "body": chunks[asked - 1], "more_body": asked < len(chunks)}

    async def send(message: Message) -> None:
        sent.append(message)

    async def route(scope: Scope, receive: Receive, send: Send) -> None:
        nonlocal app_ran
        app_ran = True

    scope: Scope = {"type": "http", "method": "POST", "path": "/v1/cases", "headers": []}
    guard = BodyGuard(route, max_body_bytes=max_body_bytes, drain_bytes=drain_bytes)
    await guard(scope, receive, send)
    return asked, app_ran, sent[0]["status"]


async def test_the_guard_stops_reading_a_body_far_over_the_limit() -> None:
    """4000 bytes offered, 1000 allowed, 1000 more drained: it stops asking once it has read past
    2000 (the limit plus the drain), and the route never runs."""
    asked, app_ran, status = await refuse([b"x" * 400] * 10, max_body_bytes=1000, drain_bytes=1000)
    assert asked == 6  # 400 .. 1200 crosses the limit, 1600, 2000, 2400 crosses the drain
    assert not app_ran
    assert status == 413


async def test_a_body_a_little_over_the_limit_is_read_to_its_end_before_the_413() -> None:
    """So a client still sending reads the answer instead of a reset connection."""
    asked, app_ran, status = await refuse([b"x" * 400] * 4, max_body_bytes=1000, drain_bytes=1000)
    assert asked == 4
    assert not app_ran
    assert status == 413


async def test_a_body_naming_a_key_twice_is_refused_with_422_naming_the_key(
    api_url: str, keys: dict[str, str], body: dict[str, Any], sessions: sessionmaker[Session]
) -> None:
    ambiguous = with_key_twice(body, "issue_type", "refund_only")
    async with httpx.AsyncClient(base_url=api_url, timeout=30) as client:
        answer = await client.post("/v1/cases", content=ambiguous, headers=headers(keys["system"]))
    assert answer.status_code == 422, answer.text
    assert answer.headers["content-type"].startswith("application/problem+json")
    problem = answer.json()
    assert problem["type"] == "/problems/validation"
    assert [(e["field"], e["type"]) for e in problem["errors"]] == [("issue_type", "duplicate_key")]
    assert "issue_type" in problem["detail"]
    assert stored_cases(sessions, body["order"]["order_id"]) == 0


async def test_a_key_given_twice_deep_inside_the_body_is_named_with_its_path(
    api_url: str, keys: dict[str, str], body: dict[str, Any], sessions: sessionmaker[Session]
) -> None:
    line = json.dumps(body["order"]["lines"][0])
    twice = line.replace('"sku": "SKU-1"', '"sku": "SKU-1", "sku": "SKU-2"')
    text = json.dumps(body).replace(line, twice)
    async with httpx.AsyncClient(base_url=api_url, timeout=30) as client:
        answer = await client.post(
            "/v1/cases",
            content=text.encode(),
            headers=headers(keys["system"], **{"Content-Type": "application/json; charset=utf-8"}),
        )
    assert answer.status_code == 422, answer.text
    assert [e["field"] for e in answer.json()["errors"]] == ["order.lines.0.sku"]
    assert stored_cases(sessions, body["order"]["order_id"]) == 0


async def test_an_admin_body_naming_a_key_twice_changes_nothing(api_url: str, keys: dict[str, str]) -> None:
    """Any JSON body of the API, not only cases: a freeze whose scope says two things is refused."""
    region = "CN-DUP-1"
    ambiguous = b'{"region": "CN-ELSEWHERE", "region": "' + region.encode() + b'", "reason": "x"}'
    async with httpx.AsyncClient(base_url=api_url, timeout=30) as client:
        answer = await client.post("/v1/admin/freeze", content=ambiguous, headers=headers(keys["supervisor"]))
        in_force = (await client.get("/v1/admin/freezes", headers=headers(keys["supervisor"]))).json()
    assert answer.status_code == 422, answer.text
    assert answer.json()["errors"][0]["field"] == "region"
    assert all(f["region"] not in (region, "CN-ELSEWHERE") for f in in_force)


def malformed_bodies() -> list[Any]:
    return [
        pytest.param(b"{not json", id="not-json"),
        pytest.param(b'{"order": ', id="truncated"),
        pytest.param(b"[" * 100_000, id="nested-too-deep"),
        pytest.param(b'{"csat": NaN, "nps": Infinity}', id="nan-and-infinity"),
        pytest.param(b'{"description": "\xff\xfe broken utf-8"}', id="invalid-utf8"),
        pytest.param(b'{"csat": ' + b"9" * 5000 + b"}", id="integer-too-long"),
        pytest.param(b'{"a": 1} {"b": 2}', id="two-documents"),
    ]


@pytest.mark.parametrize("raw", malformed_bodies())
@pytest.mark.parametrize("path", ["/v1/cases", "/v1/cases/AS20261122ZZZZZZZZ/survey", "/v1/admin/freeze"])
async def test_malformed_json_is_a_4xx_problem_never_a_500(
    api_url: str, keys: dict[str, str], raw: bytes, path: str
) -> None:
    async with httpx.AsyncClient(base_url=api_url, timeout=30) as client:
        answer = await client.post(path, content=raw, headers=headers(keys["system"]))
    assert 400 <= answer.status_code < 500, answer.text
    assert answer.headers["content-type"].startswith("application/problem+json")


def test_duplicate_keys_are_found_at_every_depth_with_their_path() -> None:
    found = duplicate_keys(b'{"a": 1, "a": 2, "b": [{"c": {"d": 1, "d": 1}}, {}], "f": {"g": 1, "g": 2}}')
    assert sorted(found) == [("a", "a"), ("b.0.c.d", "d"), ("f.g", "g")]
    assert duplicate_keys(b'{"a": {"a": 1}, "b": [1, 1]}') == []
