"""A small in-process cache of authenticated API keys, so most requests skip the store lookup.

Profiling the API showed the key lookup at 15–19 % of its CPU (BENCHMARKS.md). Only keys the store
accepted are cached (an unknown key always reaches the store, so guessing cannot fill the cache), by
their sha256, for `ttl` seconds: a key revoked by the CLI or another process stops working within
that time. `ttl` 0 turns the cache off.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Generic, TypeVar

T = TypeVar("T")


class KeyCache(Generic[T]):
    def __init__(
        self, ttl: float, max_entries: int = 10_000, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.ttl, self.max_entries, self._clock = ttl, max_entries, clock
        self._entries: OrderedDict[str, tuple[float, T]] = OrderedDict()
        self._lock = threading.Lock()

    @staticmethod
    def _digest(token: str) -> str:
        return hashlib.sha256(token.encode()).hexdigest()

    def get(self, token: str) -> T | None:
        if self.ttl <= 0:
            return None
        digest = self._digest(token)
        with self._lock:
            found = self._entries.get(digest)
            if found is None:
                return None
            if found[0] <= self._clock():
                del self._entries[digest]
                return None
            return found[1]

    def put(self, token: str, value: T) -> None:
        if self.ttl <= 0:
            return
        digest = self._digest(token)
        with self._lock:
            self._entries[digest] = (self._clock() + self.ttl, value)
            self._entries.move_to_end(digest)
            while len(self._entries) > self.max_entries:
                self._entries.popitem(last=False)  # the oldest entry goes first

    def clear(self) -> None:
        """Forget every key (after a revocation in this process: it takes effect at once here)."""
        with self._lock:
            self._entries.clear()
