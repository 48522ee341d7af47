"""Asking a patch only where its answer changes what the case does.

`workflow.patched` writes a marker into every new case that asks, and the SDK core adds a
`TemporalChangeVersion` search-attribute upsert beside it: two history events, and ~4 KB that a
cached run keeps in the core for as long as it lives (BENCHMARKS.md, issue 14, twelfth pass). Where
the old and the new path of a change do the same for this case, a new case need not ask: it takes
the new path, which is the old one there. It must still ask whenever its history holds the marker
(a case that asked before this module existed): the core fails a replay on a patch marker nobody
asks for (TMPRL1100).

Whether the history holds a marker is what the SDK was told before the activation ran (its
`notify_has_patch` jobs). The SDK keeps that in its workflow instance (temporalio 1.35); if a
release moves it, `history_holds` answers yes, and every case asks, as `workflow.patched` alone
would.
"""

from __future__ import annotations

from temporalio import workflow
from temporalio.workflow._context import _Runtime


def patched_where_it_matters(patch_id: str, matters: bool) -> bool:
    """Whether the case takes the new path of `patch_id`: asked of `workflow.patched` when the paths
    differ for this case (`matters`) or its history holds the marker; else the new path, unasked."""
    if matters or history_holds(patch_id):
        return workflow.patched(patch_id)
    return True


def history_holds(patch_id: str) -> bool:
    """True when the history being replayed holds this patch's marker (or when that cannot be told)."""
    notified = getattr(_Runtime.current(), "_patches_notified", None)
    return not isinstance(notified, set) or patch_id in notified
