"""The store pieces built from the settings: the personal-data vault of the configured keys (core.keyring)."""

from __future__ import annotations

from core.keyring import key_ring, lookup_key
from core.settings import Settings
from store.vault import PersonalDataVault


def vault_for(settings: Settings) -> PersonalDataVault:
    ring = key_ring(settings)
    return PersonalDataVault(ring.keys, ring.current, lookup_key(settings))
