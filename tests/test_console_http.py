"""The console over plain HTTP: its sessions (idle and absolute expiry, sign-out, a revoked key), the
security headers of its pages, the CSRF check of every form, and the API's own role checks."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from sqlalchemy.orm import Session, sessionmaker

from store import console_sessions
from store.keys import create_api_key, revoke_api_key
from tests.support.console import case_awaiting_approval, case_view

IDLE, LONGEST = timedelta(minutes=30), timedelta(hours=12)


def test_a_session_expires_when_idle_too_long_or_too_old_and_ends_on_sign_out(
    sessions: sessionmaker[Session],
) -> None:
    start = datetime.now(UTC)
    with sessions.begin() as session:
        key_id = create_api_key(session, "agent", None, "console session test")[0]
        token = console_sessions.create_console_session(session, key_id, now=start)
        assert token.startswith("acw_") and console_sessions.find_console_session(
            session, token, IDLE, LONGEST
        )
        at = start + IDLE - timedelta(seconds=1)
        assert console_sessions.find_console_session(session, token, IDLE, LONGEST, now=at)  # touched: fresh
        later = at + IDLE - timedelta(seconds=1)
        assert console_sessions.find_console_session(session, token, IDLE, LONGEST, now=later)
        idle = later + IDLE + timedelta(seconds=1)
        assert console_sessions.find_console_session(session, token, IDLE, LONGEST, now=idle) is None
        old = start + LONGEST + timedelta(seconds=1)
        assert (
            console_sessions.find_console_session(session, token, timedelta(days=1), LONGEST, now=old) is None
        )
        assert console_sessions.end_console_session(session, token)
        assert console_sessions.find_console_session(session, token, IDLE, LONGEST) is None
        assert not console_sessions.end_console_session(session, token)


def test_a_page_polling_by_itself_does_not_keep_its_session_alive(sessions: sessionmaker[Session]) -> None:
    start = datetime.now(UTC)
    with sessions.begin() as session:
        key_id = create_api_key(session, "agent", None, "console poll test")[0]
        token = console_sessions.create_console_session(session, key_id, now=start)
        polled = start + IDLE - timedelta(seconds=1)
        assert console_sessions.find_console_session(session, token, IDLE, LONGEST, now=polled, touch=False)
        after = start + IDLE + timedelta(seconds=1)
        assert console_sessions.find_console_session(session, token, IDLE, LONGEST, now=after) is None


def test_revoking_the_key_ends_its_console_sessions(sessions: sessionmaker[Session]) -> None:
    with sessions.begin() as session:
        key_id, _ = create_api_key(session, "supervisor", None, "console revoke test")
        token = console_sessions.create_console_session(session, key_id)
        revoke_api_key(session, key_id)
        assert console_sessions.find_console_session(session, token, IDLE, LONGEST) is None


@asynccontextmanager
async def signed_in(api_url: str, key: str) -> AsyncIterator[tuple[httpx.AsyncClient, str]]:
    """A client with a console session, and the session's CSRF token (from a page's form)."""
    async with httpx.AsyncClient(base_url=api_url, timeout=30) as client:
        answer = await client.post("/console/sign-in", data={"api_key": key}, follow_redirects=True)
        assert answer.status_code == 200, answer.text
        found = re.search(r'name="csrf" value="([0-9a-f]+)"', answer.text)
        assert found
        yield client, found.group(1)


@pytest.mark.parametrize("path", ["/console/sign-in", "/console/inbox", "/console/queues", "/console/ops"])
async def test_every_page_carries_the_security_headers(api_url: str, keys: dict[str, str], path: str) -> None:
    async with signed_in(api_url, keys["supervisor"]) as (client, _):
        answer = await client.get(path)
    assert answer.status_code == 200
    csp = answer.headers["content-security-policy"]
    assert "frame-ancestors 'none'" in csp and "script-src 'self'" in csp and "unsafe-inline" not in csp
    assert answer.headers["x-frame-options"] == "DENY"
    assert answer.headers["cache-control"] == "no-store"


async def test_the_session_cookie_is_http_only_strict_and_not_the_key(
    api_url: str, keys: dict[str, str]
) -> None:
    async with httpx.AsyncClient(base_url=api_url, timeout=30) as client:
        answer = await client.post("/console/sign-in", data={"api_key": keys["agent"]})
        refused = await client.post("/console/sign-in", data={"api_key": "ask_not-a-key"})
    cookie = answer.headers["set-cookie"]
    assert answer.status_code == 303 and "HttpOnly" in cookie and "SameSite=strict" in cookie
    assert keys["agent"] not in cookie and "Path=/console" in cookie
    assert refused.status_code == 401 and "set-cookie" not in refused.headers


async def test_a_form_without_its_csrf_token_changes_nothing(api_url: str, keys: dict[str, str]) -> None:
    case_id = await case_awaiting_approval(api_url, keys)
    async with signed_in(api_url, keys["supervisor"]) as (client, csrf):
        forged = await client.post(f"/console/inbox/{case_id}/decision", data={"decision": "approve"})
        wrong = await client.post(
            f"/console/inbox/{case_id}/decision", data={"decision": "approve", "csrf": "0" * 64}
        )
    assert forged.status_code == wrong.status_code == 403
    assert (await case_view(api_url, keys["system"], case_id))["step"] == "awaiting_approval"
    assert csrf


async def test_the_console_acts_under_the_apis_role_checks(api_url: str, keys: dict[str, str]) -> None:
    """Ops only read: the freeze form is not shown to them, and posting it anyway is the API's 403."""
    case_id = await case_awaiting_approval(api_url, keys)
    async with signed_in(api_url, keys["ops"]) as (client, csrf):
        page = await client.get("/console/ops")
        frozen = await client.post("/console/ops/freeze", data={"csrf": csrf, "merchant_id": "M-nobody"})
        decided = await client.post(
            f"/console/inbox/{case_id}/decision", data={"csrf": csrf, "decision": "approve"}
        )
        inbox = await client.get("/console/inbox")
    assert 'action="/console/ops/freeze"' not in page.text
    assert 'data-status="403"' in frozen.text and "无权执行此操作" in frozen.text
    assert 'data-status="403"' in decided.text
    assert case_id in inbox.text and 'value="approve"' not in inbox.text
    assert (await case_view(api_url, keys["system"], case_id))["step"] == "awaiting_approval"


async def test_a_supervisor_freezes_and_thaws_and_sees_how_many_cases_were_signalled(
    api_url: str, keys: dict[str, str]
) -> None:
    async with signed_in(api_url, keys["supervisor"]) as (client, csrf):
        frozen = await client.post(
            "/console/ops/freeze", data={"csrf": csrf, "merchant_id": "M-console-none"}
        )
        thawed = await client.post("/console/ops/thaw", data={"csrf": csrf, "merchant_id": "M-console-none"})
    assert "已通知 0 个工单" in frozen.text and "M-console-none" in frozen.text
    assert "已通知 0 个工单" in thawed.text


async def test_a_supervisor_sets_and_clears_a_merchants_working_hours(
    api_url: str, keys: dict[str, str]
) -> None:
    hours = {"calendar": "business", "merchant_id": "M-console-hours", "mon": "09:00-12:00, 13:00-17:00"}
    async with signed_in(api_url, keys["supervisor"]) as (client, csrf):
        bad = await client.post("/console/ops/hours", data={**hours, "csrf": csrf, "tue": "9 to 5"})
        changed = await client.post("/console/ops/hours", data={**hours, "csrf": csrf})
        cleared = await client.post("/console/ops/clear_hours", data={**hours, "csrf": csrf})
    assert 'data-status="422"' in bad.text
    assert "已通知 0 个工单" in changed.text and "已通知 0 个工单" in cleared.text
