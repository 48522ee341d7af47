"""Envelope encryption of personal data at rest, and the keyed hash that finds cases by phone.

Each case gets a random 256-bit data key. The data key is stored wrapped (AES-GCM) by the current
codec key, with that key's id beside it; personal fields are sealed (AES-GCM) with the data key.
Rotating the codec key therefore re-encrypts 32 bytes per case, never the data: new wraps use the
current key, old wraps stay readable while their key is configured, and re-wrapping every data key
with the current one (`aftersales data-keys rewrap`) lets an old key be retired.

A sealed value is a string `enc:v1:<base64(nonce | ciphertext)>` of the value's JSON, bound to where
it is stored (case, table, field), so a ciphertext copied to another case or field does not open.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

SEALED_PREFIX = "enc:v1:"
NONCE_BYTES = 12
TAG_BYTES = 16


class UnknownKeyError(Exception):
    """A data key is wrapped by a codec key this process does not have."""


@dataclass(frozen=True)
class WrappedKey:
    key_id: str
    wrapped: str  # base64 of nonce | AES-GCM(codec key, data key)


def is_sealed(value: object) -> bool:
    return isinstance(value, str) and value.startswith(SEALED_PREFIX)


def seal(data_key: bytes, value: Any, where: str) -> str:
    """The value's JSON, encrypted with the case's data key and bound to `where` it is stored."""
    plain = json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode()
    nonce = os.urandom(NONCE_BYTES)
    sealed = AESGCM(data_key).encrypt(nonce, plain, where.encode())
    return SEALED_PREFIX + base64.b64encode(nonce + sealed).decode()


def open_sealed(data_key: bytes, token: str, where: str) -> Any:
    try:
        raw = base64.b64decode(token.removeprefix(SEALED_PREFIX), validate=True)
    except binascii.Error as err:
        raise ValueError(f"sealed value at {where} is not valid base64") from err
    plain = AESGCM(data_key).decrypt(raw[:NONCE_BYTES], raw[NONCE_BYTES:], where.encode())
    return json.loads(plain)


def phone_digits(phone: str) -> str:
    """Digits only: `+86 138-0000 0000` and `8613800000000` are the same phone."""
    return "".join(c for c in phone if c.isdigit())


class PersonalDataVault:
    """The codec key ring (wraps data keys) and the lookup key (hashes phones)."""

    def __init__(self, keys: Mapping[str, bytes], current: str, lookup_key: bytes) -> None:
        if current not in keys:
            raise ValueError(f"current codec key {current!r} is not among the configured keys")
        if len(lookup_key) < 32:
            raise ValueError("the lookup hash key must be at least 32 bytes")
        self._ciphers = {key_id: AESGCM(key) for key_id, key in keys.items()}
        self._current = current
        self._lookup_key = lookup_key

    @property
    def current_key_id(self) -> str:
        return self._current

    def has_key(self, key_id: str) -> bool:
        return key_id in self._ciphers

    @staticmethod
    def new_data_key() -> bytes:
        return AESGCM.generate_key(bit_length=256)

    def wrap(self, data_key: bytes, case_id: str) -> WrappedKey:
        nonce = os.urandom(NONCE_BYTES)
        aad = self._wrap_aad(self._current, case_id)
        sealed = self._ciphers[self._current].encrypt(nonce, data_key, aad)
        return WrappedKey(self._current, base64.b64encode(nonce + sealed).decode())

    def unwrap(self, wrapped: WrappedKey, case_id: str) -> bytes:
        cipher = self._ciphers.get(wrapped.key_id)
        if cipher is None:
            raise UnknownKeyError(
                f"the data key of case {case_id} is wrapped by codec key {wrapped.key_id!r}, "
                "which is not configured (AFTERSALES_CODEC_KEYS)"
            )
        raw = base64.b64decode(wrapped.wrapped)
        return cipher.decrypt(raw[:NONCE_BYTES], raw[NONCE_BYTES:], self._wrap_aad(wrapped.key_id, case_id))

    def seal_secret(self, secret: str, owner: str) -> WrappedKey:
        """A secret the service must use again (a webhook signing secret), sealed by the current
        codec key and bound to its owner, like a case's data key."""
        nonce = os.urandom(NONCE_BYTES)
        aad = self._secret_aad(self._current, owner)
        sealed = self._ciphers[self._current].encrypt(nonce, secret.encode(), aad)
        return WrappedKey(self._current, base64.b64encode(nonce + sealed).decode())

    def open_secret(self, wrapped: WrappedKey, owner: str) -> str:
        cipher = self._ciphers.get(wrapped.key_id)
        if cipher is None:
            raise UnknownKeyError(
                f"the secret of {owner} is sealed by codec key {wrapped.key_id!r}, "
                "which is not configured (AFTERSALES_CODEC_KEYS)"
            )
        raw = base64.b64decode(wrapped.wrapped)
        aad = self._secret_aad(wrapped.key_id, owner)
        return cipher.decrypt(raw[:NONCE_BYTES], raw[NONCE_BYTES:], aad).decode()

    def reseal_secret(self, wrapped: WrappedKey, owner: str) -> WrappedKey:
        """The same secret sealed by the current codec key (a codec key rotation)."""
        return self.seal_secret(self.open_secret(wrapped, owner), owner)

    @staticmethod
    def _secret_aad(key_id: str, owner: str) -> bytes:
        return f"secret|{owner}|{key_id}".encode()

    def phone_hash(self, phone: str | None) -> str | None:
        """HMAC-SHA256 of the phone's digits: equal phones hash alike, the hash reveals nothing."""
        digits = phone_digits(phone or "")
        if not digits:
            return None
        return hmac.new(self._lookup_key, digits.encode(), hashlib.sha256).hexdigest()

    @staticmethod
    def _wrap_aad(key_id: str, case_id: str) -> bytes:
        # Bound to the case and the wrapping key: a wrapped key moved to another case does not open.
        return f"data-key|{case_id}|{key_id}".encode()
