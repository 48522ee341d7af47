"""The API's key cache: only accepted keys, for a limited time, bounded in size."""

from __future__ import annotations

from api.key_cache import KeyCache


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_a_cached_key_expires_so_a_revocation_takes_effect_within_the_ttl() -> None:
    clock = Clock()
    cache: KeyCache[str] = KeyCache(10, clock=clock)
    assert cache.get("ask_a") is None
    cache.put("ask_a", "agent")
    clock.now = 9.9
    assert cache.get("ask_a") == "agent"
    clock.now = 10.0
    assert cache.get("ask_a") is None


def test_the_oldest_keys_leave_first_when_full_and_ttl_zero_turns_it_off() -> None:
    cache: KeyCache[int] = KeyCache(60, max_entries=2)
    for i in range(3):
        cache.put(f"ask_{i}", i)
    assert [cache.get(f"ask_{i}") for i in range(3)] == [None, 1, 2]
    off: KeyCache[int] = KeyCache(0)
    off.put("ask_x", 1)
    assert off.get("ask_x") is None
