"""The recorder: audit events, the recent timeline, notifications and the store writes that carry them.

Nothing is written as it happens. Events and notifications gather here until the case next waits,
then `flush` writes them in one local activity (`record_case_delta`) together with the view fields
that changed since the previous write: the store merges those, appends the events to the audit
trail and queues the notifications in its outbox, all in one transaction, and the worker's outbox
relay delivers them. Search attributes are upserted in the same flush, only those whose value
changed, in one call.

What was sent is remembered as a checksum per view field, not as a copy of the view, and the recent
timeline as tuples: the worker keeps every cached case's recorder, so it is kept small.
"""

from __future__ import annotations

import asyncio
import json
import zlib
from array import array
from datetime import datetime
from typing import Any, NamedTuple

from temporalio import workflow
from temporalio.common import SearchAttributeKey, SearchAttributeUpdate

with workflow.unsafe.imports_passed_through():
    from domain.enums import Step
    from domain.models import CaseDelta, CaseEvent, CaseView, OutboxMessage, TimelineEntry
    from workflows import calls

# How many recent entries the workflow keeps for its own view (the store keeps the full timeline).
TIMELINE_SIZE = 50


class Recent(NamedTuple):
    """A timeline entry as the recorder keeps it: a tuple, a fifth of the model's memory."""

    at: datetime
    step: Step
    kind: str
    actor: str
    summary: str

    def entry(self) -> TimelineEntry:
        return TimelineEntry(**self._asdict())


class Recorder:
    def __init__(self, case_id: str) -> None:
        self.case_id = case_id
        self.seq = 0  # the last audit event's seq
        self.version = 0  # the last store write's version
        self.timeline: list[Recent] = []
        self._events: list[CaseEvent] = []
        self._messages: list[OutboxMessage] = []
        # The checksum of each view field the store has, in the view's field order (the order
        # `model_dump` gives, the same on every call): 4 bytes a field where a dict took ~80.
        self._sent = array("I")
        self._attributes: dict[str, Any] = {}  # search attribute -> value the server has
        self._lock = asyncio.Lock()

    def event(self, kind: str, actor: str, summary: str, step: Step, **payload: Any) -> None:
        self.seq += 1
        now = workflow.now()
        self._events.append(
            CaseEvent(
                case_id=self.case_id,
                seq=self.seq,
                at=now,
                kind=kind,
                step=step,
                actor=actor,
                summary=summary,
                payload=payload,
            )
        )
        self.timeline.append(Recent(now, step, kind, actor, summary))
        del self.timeline[:-TIMELINE_SIZE]

    def key(self, purpose: str) -> str:
        """Idempotency keys come from the case id and a deterministic sequence, never the run id."""
        return f"{self.case_id}-{purpose}-{self.seq + 1}"

    def notify(self, role: str, template: str, message: str) -> None:
        """Queue a message for whoever must act; it leaves with the next store write (the outbox)."""
        self._messages.append(
            OutboxMessage(
                idempotency_key=self.key(f"notify-{role}-{template}"),
                case_id=self.case_id,
                recipient_role=role,
                template=template,
                message=message,
            )
        )

    async def flush(self, view: CaseView, attributes: dict[SearchAttributeKey[Any], Any]) -> bool:
        """Write what changed since the last write; False when nothing had (no write at all)."""
        async with self._lock:
            self._upsert_changed(attributes)
            fields = view.model_dump(mode="json", exclude={"timeline"})
            sums = array(
                "I", (zlib.crc32(json.dumps(value, sort_keys=True).encode()) for value in fields.values())
            )
            if len(self._sent) == len(sums):
                pairs = zip(fields, sums, self._sent, strict=True)
                changed = {name: fields[name] for name, crc, had in pairs if crc != had}
            else:  # the first write: all of it
                changed = dict(fields)
            if not (changed or self._events or self._messages):
                return False
            events, messages = self._events, self._messages
            self._events, self._messages = [], []
            self.version += 1
            delta = CaseDelta(
                case_id=self.case_id,
                version=self.version,
                view=changed,
                events=events,
                notifications=messages,
            )
            try:
                await calls.record(delta)
            except BaseException:
                self.version -= 1
                self._events, self._messages = events + self._events, messages + self._messages
                raise
            self._sent = sums
            return True

    def _upsert_changed(self, attributes: dict[SearchAttributeKey[Any], Any]) -> None:
        updates: list[SearchAttributeUpdate[Any]] = [
            key.value_set(value) if value is not None else key.value_unset()
            for key, value in attributes.items()
            if self._attributes.get(key.name) != value
        ]
        if updates:
            workflow.upsert_search_attributes(updates)
            self._attributes.update({key.name: value for key, value in attributes.items()})

    def knows_attributes(self, attributes: dict[SearchAttributeKey[Any], Any]) -> None:
        """The values set when the workflow started (the API sets them): no upsert until they change."""
        self._attributes.update({key.name: value for key, value in attributes.items()})
