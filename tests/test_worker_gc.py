"""The worker process collects cyclic garbage with a large first generation (workers/__main__.py)."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from workers.__main__ import GC_THRESHOLDS, tune_garbage_collector


@pytest.fixture
def restored_thresholds() -> Iterator[None]:
    before = gc.get_threshold()
    yield
    gc.set_threshold(*before)


@pytest.mark.usefixtures("restored_thresholds")
def test_the_worker_lets_short_lived_objects_die_young() -> None:
    gc.set_threshold(700, 10, 10)  # Python's default
    tune_garbage_collector()
    assert gc.get_threshold() == GC_THRESHOLDS
    assert GC_THRESHOLDS[0] >= 10_000
