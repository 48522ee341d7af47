"""Customer data never sits in plain text in workflow histories (seed 000 ch. 5)."""

from __future__ import annotations

from datetime import UTC, datetime

import httpx
import pytest
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from core.codec import EncryptionCodec, parse_keys, workflow_id_of
from tests.support.cases import kettle_request
from tests.support.waiting import eventually

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
