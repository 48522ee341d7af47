"""Customer data never sits in plain text in workflow histories (seed 000 ch. 5)."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from sqlalchemy.orm import Session, sessionmaker
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from activities.provider_client import ProviderClient
from core.codec import EncryptionCodec, parse_keys, workflow_id_of
from core.settings import Settings
from domain.enums import Action, Step
from tests.support.cases import CaseDriver, kettle_request, open_case, terminate_started
from tests.support.waiting import eventually
from workers.build import build_worker

SECRETS = ["张三", "138 0000 0000", "浦东新区", "leaks from the base"]


async def test_a_raw_history_holds_no_personal_data(
    api_url: str, keys: dict[str, str], dev_env: WorkflowEnvironment
) -> None:
    body = kettle_request(datetime.now(UTC)).model_dump(mode="json")
    async with httpx.AsyncClient(
        base_url=api_url, headers={"Authorization": f"Bearer {keys['system']}"}
    ) as client:
        created = (await client.post("/v1/cases", json=body)).json()

        async def step() -> str:
            return str((await client.get(f"/v1/cases/{created['case_id']}")).json()["step"])

        # Let the workflow write a few events, the merchant step included.
        await eventually(step, lambda s: s == "merchant_verification", "the case at the merchant step")
        await client.post(
            f"/v1/cases/{created['case_id']}/notes", json={"text": "张三 called, 138 0000 0000"}
        )
    # A client without the codec sees what the server stores.
    raw_client = await Client.connect(dev_env.client.service_client.config.target_host)
    history = await raw_client.get_workflow_handle(created["workflow_id"]).fetch_history()
    raw = history.to_json()
    for secret in SECRETS:
        assert secret not in raw, f"{secret!r} is in the history in plain text"
    assert "binary/encrypted" in raw or "YmluYXJ5L2VuY3J5cHRlZA" in raw


def unsealed(history: dict[str, Any]) -> list[str]:
    """Where a raw history holds a payload that is not encrypted, besides the places meant to be
    plain: search attributes (never personal data) and the SDK core's own marker details."""
    found: list[str] = []

    def walk(node: object, where: str) -> None:
        if isinstance(node, dict):
            encoding = (
                node.get("metadata", {}).get("encoding") if isinstance(node.get("metadata"), dict) else None
            )
            if encoding is not None:
                if base64.b64decode(encoding) != b"binary/encrypted":
                    found.append(where)
                return
            for key, value in node.items():
                if key in ("searchAttributes", "details") or where.endswith("headers"):
                    continue  # search attributes; core's marker data (local activity, patch)
                walk(value, f"{where}.{key}")
        elif isinstance(node, list):
            for value in node:
                walk(value, where)

    for event in history["events"]:
        walk(
            {k: v for k, v in event.items() if k.endswith("Attributes") or k == "userMetadata"},
            event["eventType"],
        )
        marker = event.get("markerRecordedEventAttributes", {}).get("details", {})
        walk(marker.get("result", {}), f"{event['eventType']}.result")  # a local activity's result
    return found


async def test_a_case_replayed_at_every_step_leaves_no_payload_unsealed_in_its_history(
    ts_env: WorkflowEnvironment,
    settings: Settings,
    sessions: sessionmaker[Session],
    provider: ProviderClient,
    task_queue: str,
) -> None:
    """With no cache, the worker replays the case's whole history at every step: the replayed
    activations' commands are not encrypted (core drops them, workers/payload_passes.py), and every
    command that reaches the server is, whatever came before it."""
    uncached = settings.model_copy(update={"worker_max_cached_workflows": 0})
    async with build_worker(ts_env.client, uncached, sessions, provider, task_queue):
        now = await ts_env.get_current_time()
        case = await CaseDriver(
            ts_env.client, open_case(sessions, kettle_request(now), now), task_queue
        ).start()
        await case.wait_for_step(Step.MERCHANT_VERIFICATION)
        await case.act(Action.MERCHANT_RESPONSE, {"accepts_claim": True})
        refund = {"resolution": "refund_only", "refund": {"amount": "129.00", "currency": "CNY"}}
        await case.act(Action.PROPOSAL, {"liability": "merchant", "options": [refund]})
        await case.act(Action.CUSTOMER_DECISION, {"accept_option": 0})
        await case.wait_for_step(Step.FOLLOW_UP)
        await case.quiet_view()
        raw_client = Client(ts_env.client.service_client, namespace=ts_env.client.namespace)
        history = (await raw_client.get_workflow_handle(case.handle.id).fetch_history()).to_json_dict()
        await terminate_started()
    kinds = {event["eventType"] for event in history["events"]}
    assert "EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_COMPLETED" in kinds and "EVENT_TYPE_TIMER_STARTED" in kinds
    assert unsealed(history) == []
    raw = json.dumps(history, ensure_ascii=False)
    for secret in SECRETS:
        assert secret not in raw, f"{secret!r} is in the history in plain text"


async def test_old_keys_still_decrypt_after_rotation() -> None:
    old = parse_keys("k1:" + "A" * 43 + "=")
    new = {**old, **parse_keys("k2:" + "B" * 43 + "=")}
    from temporalio.api.common.v1 import Payload

    payload = Payload(metadata={"encoding": b"json/plain"}, data=b'{"x":1}')
    sealed = (await EncryptionCodec(old, "k1").encode([payload]))[0]
    rotated = EncryptionCodec(new, "k2")
    assert (await rotated.decode([sealed]))[0] == payload
    assert (await rotated.encode([payload]))[0].metadata["encryption-key-id"] == b"k2"


async def test_large_payloads_are_compressed_before_encryption_and_old_uncompressed_ones_still_read() -> None:
    from temporalio.api.common.v1 import Payload

    keys = parse_keys("k1:" + "A" * 43 + "=")
    codec = EncryptionCodec(keys, "k1")
    view = Payload(
        metadata={"encoding": b"json/plain"}, data=b'{"timeline": [' + b'{"kind": "step"},' * 300 + b"{}]}"
    )
    sealed = (await codec.encode([view]))[0]
    assert sealed.metadata["compression"] == b"zlib" and len(sealed.data) < len(view.data) / 5
    assert (await codec.decode([sealed]))[0] == view
    small = Payload(metadata={"encoding": b"json/plain"}, data=b'{"x":1}')
    assert "compression" not in (await codec.encode([small]))[0].metadata
    # Written before compression existed: same encryption, no compression marker.
    nonce = b"\0" * 12
    legacy = Payload(
        metadata={"encoding": b"binary/encrypted", "encryption-key-id": b"k1"},
        data=nonce + AESGCM(keys["k1"]).encrypt(nonce, view.SerializeToString(), b"k1"),
    )
    assert (await codec.decode([legacy]))[0] == view


async def test_payloads_compressed_with_zlibs_default_window_still_read() -> None:
    """Payloads sealed before the compression's window was made smaller open as before."""
    import zlib

    from temporalio.api.common.v1 import Payload

    from core.codec import compress

    keys = parse_keys("k1:" + "A" * 43 + "=")
    codec = EncryptionCodec(keys, "k1")
    view = Payload(
        metadata={"encoding": b"json/plain"}, data=b'{"events": [' + b'{"kind": "step"},' * 300 + b"{}]}"
    )
    nonce = b"\1" * 12
    older = Payload(
        metadata={"encoding": b"binary/encrypted", "encryption-key-id": b"k1", "compression": b"zlib"},
        data=nonce + AESGCM(keys["k1"]).encrypt(nonce, zlib.compress(view.SerializeToString(), 6), b"k1"),
    )
    assert (await codec.decode([older]))[0] == view
    assert zlib.decompress(compress(view.SerializeToString())) == view.SerializeToString()


async def test_each_payload_names_its_workflow_in_the_clear_and_the_name_cannot_be_changed() -> None:
    from temporalio.api.common.v1 import Payload
    from temporalio.converter import ActivitySerializationContext, WorkflowSerializationContext

    codec = EncryptionCodec(parse_keys("k1:" + "A" * 43 + "="), "k1")
    payload = Payload(metadata={"encoding": b"json/plain"}, data='{"contact":{"name":"张三"}}'.encode())
    for_workflow = codec.with_context(WorkflowSerializationContext("default", "case-AS20261122K7Q3XZ2M"))
    for_activity = codec.with_context(
        ActivitySerializationContext("default", "1", "record_progress", "q", "case-AS2", "Case", False)
    )
    sealed = (await for_workflow.encode([payload]))[0]
    assert workflow_id_of(sealed) == "case-AS20261122K7Q3XZ2M" and "张三".encode() not in sealed.data
    assert workflow_id_of((await for_activity.encode([payload]))[0]) == "case-AS2"
    assert (await codec.decode([sealed]))[0] == payload  # any codec reads it: the id is in the payload
    relabelled = Payload()
    relabelled.CopyFrom(sealed)
    relabelled.metadata["workflow-id"] = b"case-AS20990101AAAAAAAA"
    with pytest.raises(InvalidTag):
        await codec.decode([relabelled])
    assert workflow_id_of((await codec.encode([payload]))[0]) is None  # outside a workflow: none
