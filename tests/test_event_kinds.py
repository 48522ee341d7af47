"""`GET /v1/events?kinds=` and webhook subscriptions take EventKind values: a kind the workflow writes
but the enum lacks could never be asked for, nor subscribed to."""

from __future__ import annotations

from domain.audit import EventKind
from tests.support.event_kinds import kinds_the_workflow_writes


def test_every_kind_the_workflow_writes_can_be_filtered_and_subscribed_to() -> None:
    assert kinds_the_workflow_writes() <= {k.value for k in EventKind}
