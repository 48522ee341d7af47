"""Frozen values that many cases hold alike, shared by a worker's cached cases instead of copied.

Each case gets its calendar snapshots from a local activity's result and its policy from its input,
so every cached case held its own copy of the same 700-day calendars and the same policy. These are
frozen pydantic models and a snapshot's `version` is a hash of its content, so equal ones can be one
object: the first case to bring one keeps it here, later cases use that one. The workflow's behaviour
cannot differ (the values are equal and never change); only memory does. This module lives once per
worker because the worker runs workflow code outside the sandbox (workers/sandbox.py).
"""

from __future__ import annotations

from collections import OrderedDict
from typing import TypeVar

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from domain.calendar import CalendarSnapshot
    from domain.policy import CasePolicy

K = TypeVar("K")
V = TypeVar("V")
# Distinct calendars and policies in use are few; the bound only keeps a long-running worker tidy.
MAX_SHARED = 256


class _Shared(OrderedDict[K, V]):
    def keep(self, key: K, value: V) -> V:
        kept = self.get(key)
        if kept is not None:
            self.move_to_end(key)
            return kept
        self[key] = value
        if len(self) > MAX_SHARED:
            self.popitem(last=False)
        return value


_snapshots: _Shared[tuple[str, str], CalendarSnapshot] = _Shared()
_policies: _Shared[str, CasePolicy] = _Shared()


def snapshot(value: CalendarSnapshot) -> CalendarSnapshot:
    """The shared snapshot equal to `value` (itself when it carries no content hash)."""
    if not value.version:
        return value
    return _snapshots.keep((value.name, value.version), value)


def policy(value: CasePolicy) -> CasePolicy:
    return _policies.keep(value.model_dump_json(), value)
