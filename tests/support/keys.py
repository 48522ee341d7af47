"""Fixed keys for tests only: recorded histories under tests/histories are encrypted with the codec key."""

from __future__ import annotations

import base64

from core.codec import parse_keys
from store.vault import PersonalDataVault

TEST_CODEC_KEYS = "test-1:dGVzdC1vbmx5LWtleS1kby1ub3QtdXNlLWluLXByb2Q="
TEST_LOOKUP_HASH_KEY = base64.b64encode(b"test-only-lookup-key-not-for-prod").decode()


def vault_for_tests(codec_keys: str = TEST_CODEC_KEYS, current: str | None = None) -> PersonalDataVault:
    """The vault the test processes share (the same keys as the test settings)."""
    keys = parse_keys(codec_keys)
    return PersonalDataVault(keys, current or list(keys)[-1], base64.b64decode(TEST_LOOKUP_HASH_KEY))
