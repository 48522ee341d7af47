"""AES-GCM payload encryption for everything the case workflows store in Temporal.

Every payload (inputs, results, Update/signal arguments, memo, failure details) is encrypted, so
customer names, phones, addresses and free text never sit in plain text in workflow histories.
Payloads above a few hundred bytes (case views, store writes) are zlib-compressed before they are
encrypted — JSON of a case shrinks several times, and so do histories and the server's writes.
The key id travels in the payload metadata: rotating keys means adding a new key and making it
current; payloads written with older keys stay readable as long as those keys are configured.

The codec knows the workflow a payload belongs to (Temporal's serialization context) and writes its
id into the metadata, in the clear but bound to the ciphertext: the codec server can then say which
workflow each decode was for. Workflow ids carry no personal data (`case-<case id>`). Payloads
written without a workflow id (before this, or outside any workflow) still decode.
"""

from __future__ import annotations

import base64
import os
import zlib
from collections.abc import Mapping, Sequence
from typing import Self

from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from temporalio.api.common.v1 import Payload
from temporalio.converter import PayloadCodec, SerializationContext, WithSerializationContext

ENCODING = b"binary/encrypted"
KEY_ID = "encryption-key-id"
WORKFLOW_ID = "workflow-id"
COMPRESSION = "compression"
NONCE_BYTES = 12
COMPRESS_ABOVE = 256  # bytes; smaller payloads do not shrink enough to pay for it
# A 4 KB window and a smaller match table instead of zlib's default 32 KB and 256 KB: payloads here
# are a few KB, and setting up the default state for each one took two thirds of the compression's
# time (3 KB store write: 67 -> 22 us, 993 bytes out either way). Any zlib reader reads both.
COMPRESS_LEVEL, COMPRESS_WINDOW_BITS, COMPRESS_MEM_LEVEL = 6, 12, 5


def compress(data: bytes) -> bytes:
    """A zlib stream (RFC 1950), as `zlib.compress` writes, with the smaller state above."""
    deflate = zlib.compressobj(COMPRESS_LEVEL, zlib.DEFLATED, COMPRESS_WINDOW_BITS, COMPRESS_MEM_LEVEL)
    return deflate.compress(data) + deflate.flush()


class MissingKeyError(Exception):
    """A payload names a key this process does not have."""


def parse_keys(spec: str) -> dict[str, bytes]:
    """`id1:base64key,id2:base64key` → {id: key}; keys must be 16, 24 or 32 bytes."""
    keys: dict[str, bytes] = {}
    for part in filter(None, (p.strip() for p in spec.split(","))):
        key_id, _, encoded = part.partition(":")
        key = base64.b64decode(encoded)
        if not key_id or len(key) not in (16, 24, 32):
            raise ValueError(f"bad codec key {key_id!r}: want <id>:<base64 of 16/24/32 bytes>")
        keys[key_id] = key
    return keys


def _associated_data(key_id: bytes, workflow_id: bytes | None) -> bytes:
    # The key id (and the workflow id when there is one) is bound to the ciphertext, so a payload
    # cannot be re-labelled to another key or another workflow.
    return key_id if workflow_id is None else key_id + b"|workflow-id=" + workflow_id


def workflow_id_of(payload: Payload) -> str | None:
    """The workflow an encrypted payload was written for, when the codec knew it."""
    found = payload.metadata.get(WORKFLOW_ID)
    return found.decode(errors="replace") if found else None


class EncryptionCodec(PayloadCodec, WithSerializationContext):
    def __init__(self, keys: Mapping[str, bytes], current: str) -> None:
        if current not in keys:
            raise ValueError(f"current codec key {current!r} is not among the configured keys")
        self._ciphers = {key_id: AESGCM(key) for key_id, key in keys.items()}
        self._current = current
        self._workflow_id: str | None = None

    def with_context(self, context: SerializationContext) -> Self:
        """A codec for payloads of one workflow (activity contexts name their workflow too)."""
        workflow_id = getattr(context, "workflow_id", None)
        if workflow_id == self._workflow_id:
            return self
        clone = object.__new__(type(self))  # a plain field copy (copy.copy is several times slower)
        clone.__dict__.update(self.__dict__)
        clone._workflow_id = workflow_id if isinstance(workflow_id, str) and workflow_id else None
        return clone

    async def encode(self, payloads: Sequence[Payload]) -> list[Payload]:
        return [self.encrypt(p) for p in payloads]

    async def decode(self, payloads: Sequence[Payload]) -> list[Payload]:
        return [self.decrypt(p) for p in payloads]

    def encrypt(self, payload: Payload) -> Payload:
        nonce = os.urandom(NONCE_BYTES)
        key_id = self._current.encode()
        plain = payload.SerializeToString()
        metadata = {"encoding": ENCODING, KEY_ID: key_id}
        workflow_id = self._workflow_id.encode() if self._workflow_id else None
        if workflow_id is not None:
            metadata[WORKFLOW_ID] = workflow_id
        if len(plain) > COMPRESS_ABOVE:
            plain = compress(plain)
            metadata[COMPRESSION] = b"zlib"
        sealed = self._ciphers[self._current].encrypt(nonce, plain, _associated_data(key_id, workflow_id))
        return Payload(metadata=metadata, data=nonce + sealed)

    def decrypt(self, payload: Payload) -> Payload:
        if payload.metadata.get("encoding") != ENCODING:
            return payload  # written before encryption was enabled
        key_id = payload.metadata.get(KEY_ID, b"").decode()
        cipher = self._ciphers.get(key_id)
        if cipher is None:
            raise MissingKeyError(f"payload encrypted with unknown key {key_id!r}")
        nonce, sealed = payload.data[:NONCE_BYTES], payload.data[NONCE_BYTES:]
        workflow_id = payload.metadata.get(WORKFLOW_ID) or None  # absent on payloads written before
        plain = cipher.decrypt(nonce, sealed, _associated_data(key_id.encode(), workflow_id))
        if payload.metadata.get(COMPRESSION) == b"zlib":  # absent on payloads written before compression
            plain = zlib.decompress(plain)
        return Payload.FromString(plain)
