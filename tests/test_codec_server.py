"""The codec server (audit items 12 and 13): a codec credential that is not an API key and never sits
in a URL, decoding of personal data only with its own permission, and a record of every decode."""

from __future__ import annotations

import base64
import json
import logging
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker
from temporalio.api.common.v1 import Payload
from temporalio.converter import WorkflowSerializationContext
from temporalio.testing import WorkflowEnvironment

from api.app import create_app
from core.settings import Settings
from core.temporal import codec_for
from store.keys import DECODE_PERSONAL, create_api_key, revoke_api_key
from store.models import CodecDecodeRow
from tests.support.servers import run_uvicorn

CASE_ID = "AS20261122K7Q3XZ2M"
CASE_VIEW = {
    "case_id": CASE_ID,
    "order": {"lines": [{"name": "Electric kettle"}]},
    "description": "The kettle leaks from the base.",
    "contact": {"name": "张三", "phone": "+86 138 0000 0000", "address": "上海市浦东新区"},
    "private": {"reason": "家里有小孩"},
    "actions": [{"action": "notes", "text": "客户来电"}],
}
PERSONAL = ["leaks from the base", "张三", "138 0000 0000", "浦东新区", "家里有小孩", "客户来电"]


def wire(document: Any) -> dict[str, Any]:
    return {
        "metadata": {"encoding": base64.b64encode(b"json/plain").decode()},
        "data": base64.b64encode(json.dumps(document, ensure_ascii=False).encode()).decode(),
    }


def wire_of(payload: Payload) -> dict[str, Any]:
    return {
        "metadata": {k: base64.b64encode(v).decode() for k, v in payload.metadata.items()},
        "data": base64.b64encode(payload.data).decode(),
    }


def document_of(response: httpx.Response) -> Any:
    assert response.status_code == 200, response.text
    return json.loads(base64.b64decode(response.json()["payloads"][0]["data"]))


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


@pytest.fixture(scope="module")
def decoder_key(sessions: sessionmaker[Session]) -> tuple[str, str]:
    """(key id, key) of an ops key allowed to see personal data through the codec."""
    with sessions.begin() as session:
        return create_api_key(session, "ops", None, "ops who may decode personal data", [DECODE_PERSONAL])


async def sealed_for_workflow(settings: Settings, document: Any, workflow_id: str) -> dict[str, Any]:
    """A payload as the worker writes it for a workflow (the codec knows its serialization context)."""
    codec = codec_for(settings).with_context(WorkflowSerializationContext("default", workflow_id))
    plain = Payload(metadata={"encoding": b"json/plain"}, data=json.dumps(document).encode())
    return wire_of((await codec.encode([plain]))[0])


def decodes_by(sessions: sessionmaker[Session], key_id: str) -> list[CodecDecodeRow]:
    with sessions() as session:
        query = select(CodecDecodeRow).where(CodecDecodeRow.key_id == key_id).order_by(CodecDecodeRow.id)
        return list(session.scalars(query))


async def test_ops_see_personal_data_masked_unless_their_key_may_decode_it(
    api_url: str, keys: dict[str, str], decoder_key: tuple[str, str]
) -> None:
    async with httpx.AsyncClient(base_url=api_url) as client:
        sealed = (
            await client.post(
                "/codec/encode", json={"payloads": [wire(CASE_VIEW)]}, headers=bearer(keys["ops"])
            )
        ).json()["payloads"]
        masked = document_of(
            await client.post("/codec/decode", json={"payloads": sealed}, headers=bearer(keys["ops"]))
        )
        full = document_of(
            await client.post("/codec/decode", json={"payloads": sealed}, headers=bearer(decoder_key[1]))
        )
        supervisor = document_of(
            await client.post("/codec/decode", json={"payloads": sealed}, headers=bearer(keys["supervisor"]))
        )
    assert full == CASE_VIEW
    for shown in (masked, supervisor):  # the permission is its own, whatever the role sees in the API
        text = json.dumps(shown, ensure_ascii=False)
        assert not [secret for secret in PERSONAL if secret in text], text
        assert shown["contact"] == {"name": "张*", "phone": "+86 138 **** 0000", "address": "上海市…"}
        assert shown["description"] == shown["private"] == shown["actions"][0]["text"] == "[masked]"
        assert shown["order"] == CASE_VIEW["order"] and shown["case_id"] == CASE_ID  # the rest is shown


async def test_every_decode_is_recorded_in_the_case_store_with_who_which_workflow_and_when(
    api_url: str,
    keys: dict[str, str],
    decoder_key: tuple[str, str],
    settings: Settings,
    sessions: sessionmaker[Session],
) -> None:
    named = await sealed_for_workflow(settings, {"step": "merchant_verification"}, "case-AS20261122AAAA0001")
    async with httpx.AsyncClient(base_url=api_url) as client:
        unnamed = (
            await client.post(
                "/codec/encode", json={"payloads": [wire(CASE_VIEW)]}, headers=bearer(keys["ops"])
            )
        ).json()["payloads"]
        decoded = await client.post(
            "/codec/decode",
            json={"payloads": [named, *unnamed]},
            headers={**bearer(decoder_key[1]), "X-Namespace": "default"},
        )
        assert decoded.status_code == 200
        masked = await client.post(
            "/codec/decode", json={"payloads": unnamed}, headers=bearer(keys["supervisor"])
        )
        assert masked.status_code == 200
    record = decodes_by(sessions, decoder_key[0])[-1]
    assert record.actor == f"ops:{decoder_key[0]}" and record.via == "api_key"
    # One payload names its workflow in its metadata, the other is known by the case id inside.
    assert record.workflow_ids == ["case-AS20261122AAAA0001", f"case-{CASE_ID}"]
    assert (record.payloads, record.personal_revealed, record.namespace) == (2, True, "default")
    assert record.at.tzinfo is not None
    with sessions() as session:
        supervisor = session.scalars(
            select(CodecDecodeRow)
            .where(CodecDecodeRow.actor.startswith("supervisor:"))
            .order_by(CodecDecodeRow.id.desc())
        ).first()
    assert supervisor is not None and supervisor.workflow_ids == [f"case-{CASE_ID}"]  # from the case id
    assert supervisor.personal_revealed is False


async def test_the_ui_signs_in_once_and_its_cookie_only_works_on_the_codec(
    api_url: str, keys: dict[str, str], sessions: sessionmaker[Session]
) -> None:
    with sessions.begin() as session:
        key_id, ops_key = create_api_key(session, "ops", None, "ops who signs in")
    async with httpx.AsyncClient(base_url=api_url) as client:
        page = await client.get("/codec/sign-in")
        assert page.status_code == 200 and 'name="api_key"' in page.text and ops_key not in page.text
        signed_in = await client.post("/codec/session", data={"api_key": ops_key})
        assert signed_in.status_code == 200 and "Include cross-origin credentials" in signed_in.text
        cookie = signed_in.headers["set-cookie"]
        token = signed_in.cookies["aftersales_codec"]
        assert token.startswith("acs_") and ops_key not in cookie
        for attribute in ("HttpOnly", "SameSite=strict", "Path=/codec", "Max-Age=28800"):
            assert attribute.lower() in cookie.lower(), cookie
        client.cookies.clear()
        codec_cookie = {"Cookie": f"aftersales_codec={token}"}
        sealed = (
            await client.post("/codec/encode", json={"payloads": [wire({"x": 1})]}, headers=codec_cookie)
        ).json()["payloads"]
        decoded = await client.post("/codec/decode", json={"payloads": sealed}, headers=codec_cookie)
        assert document_of(decoded) == {"x": 1}
        # The codec credential is not an API key: the API refuses it, as header or cookie.
        assert (await client.get("/v1/cases", headers=bearer(token))).status_code == 401
        assert (await client.get("/v1/cases", headers=codec_cookie)).status_code == 401
        # Only the codec's roles sign in; a merchant key does not, nor does a key in the URL.
        merchant = await client.post("/codec/session", data={"api_key": keys["merchant"]})
        in_url = await client.post(f"/codec/session?api_key={ops_key}")
        assert (merchant.status_code, in_url.status_code) == (403, 401)
        signed_out = await client.post("/codec/sign-out", headers=codec_cookie)
        assert signed_out.status_code == 200 and signed_out.json() == {"signed_out": True}
        after = await client.post("/codec/decode", json={"payloads": sealed}, headers=codec_cookie)
        assert after.status_code == 401 and after.headers["content-type"].startswith(
            "application/problem+json"
        )
        # Revoking the key ends its sessions too.
        again = (await client.post("/codec/session", headers=bearer(ops_key))).cookies["aftersales_codec"]
        with sessions.begin() as session:
            assert revoke_api_key(session, key_id)
        revoked = await client.post(
            "/codec/decode", json={"payloads": sealed}, headers={"Cookie": f"aftersales_codec={again}"}
        )
        assert revoked.status_code == 401
    assert [r.via for r in decodes_by(sessions, key_id)] == ["codec_session"]


async def test_the_codec_takes_no_key_from_the_url(api_url: str, keys: dict[str, str]) -> None:
    async with httpx.AsyncClient(base_url=api_url) as client:
        sealed = (
            await client.post(
                "/codec/encode", json={"payloads": [wire({"x": 1})]}, headers=bearer(keys["ops"])
            )
        ).json()["payloads"]
        in_path = await client.post(f"/codec/k/{keys['ops']}/decode", json={"payloads": sealed})
        in_query = await client.post(f"/codec/decode?key={keys['ops']}", json={"payloads": sealed})
    assert in_path.status_code == 404 and in_query.status_code == 401


class Lines(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())


@pytest.fixture
def logged() -> Iterator[Lines]:
    """Every line the API, the codec audit and uvicorn (access log included) write meanwhile."""
    handler = Lines()
    handler.addFilter(lambda record: not record.name.startswith(("httpx", "httpcore")))  # the test's client
    loggers = [
        logging.getLogger(name) for name in ("", "uvicorn.access", "uvicorn.error", "audit.codec", "api")
    ]
    levels = [lg.level for lg in loggers]
    for lg in loggers:
        lg.addHandler(handler)
        lg.setLevel(logging.DEBUG)
    yield handler
    for lg, level in zip(loggers, levels, strict=True):
        lg.removeHandler(handler)
        lg.setLevel(level)


async def test_no_api_key_or_codec_token_reaches_a_log_line(
    dev_env: WorkflowEnvironment, settings: Settings, keys: dict[str, str], logged: Lines
) -> None:
    with run_uvicorn(create_app(settings, client=dev_env.client), log_level="info") as url:
        logging.getLogger("uvicorn.access").addHandler(logged)  # uvicorn configured its loggers anew
        async with httpx.AsyncClient(base_url=url) as client:
            signed_in = await client.post("/codec/session", data={"api_key": keys["ops"]})
            token = signed_in.cookies["aftersales_codec"]
            client.cookies.clear()
            codec_cookie = {"Cookie": f"aftersales_codec={token}", "X-Namespace": "default"}
            sealed = (
                await client.post("/codec/encode", json={"payloads": [wire(CASE_VIEW)]}, headers=codec_cookie)
            ).json()["payloads"]
            assert (
                await client.post("/codec/decode", json={"payloads": sealed}, headers=codec_cookie)
            ).is_success
            by_key = await client.post(
                "/codec/decode", json={"payloads": sealed}, headers=bearer(keys["ops"])
            )
            assert by_key.is_success
            assert (
                await client.post("/codec/decode", json={"payloads": sealed}, headers=bearer("ask_wrong"))
            ).status_code == 401
            await client.post("/codec/sign-out", headers=codec_cookie)
    logging.getLogger("uvicorn.access").setLevel(logging.WARNING)
    lines = "\n".join(logged.lines)
    assert "POST /codec/decode" in lines and "codec decode by ops:" in lines  # the lines were captured
    for secret in (keys["ops"], token, token.removeprefix("acs_"), "ask_wrong"):
        assert secret not in lines
