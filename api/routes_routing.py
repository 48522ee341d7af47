"""Routing rules (admin) and queues (DESIGN §9, issue 15): the ordered rule table that puts every new
case in a queue, and what waits in each queue, read from the case store."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Body, Path, Query
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, Field

from api.auth import Admin, QueueReader
from api.deps import Context
from api.problems import Problem
from domain.models import CaseView
from domain.routing import MAX_RULES, QUEUE_PATTERN, RoutingRule, RoutingTable
from store import queues
from store import routing as routing_store

router = APIRouter(prefix="/v1", tags=["routing"])
audit_log = logging.getLogger("audit.routing")
QueueName = Annotated[str, Path(pattern=QUEUE_PATTERN, examples=["general"])]

EXAMPLE_TABLE = {
    "rules": [
        {"queue": "complaints", "name": "every complaint", "issue_types": ["complaint"]},
        {"queue": "escalations", "priorities": ["urgent"]},
        {
            "queue": "high-value",
            "min_amount": {"amount": "2000.00", "currency": "CNY"},
            "categories": ["appliances", "digital"],
        },
        {"queue": "key-accounts", "merchant_ids": ["M-100"], "channels": ["hotline", "chat"]},
    ]
}


class RoutingTableView(BaseModel):
    rules: list[RoutingRule]
    default_queue: str = Field(description="where a case no rule matches goes (AFTERSALES_DEFAULT_QUEUE)")
    max_rules: int = MAX_RULES
    changed_by: str | None = Field(description="who last replaced the table; null if it never was")
    changed_at: datetime | None


class QueueSummary(BaseModel):
    queue: str
    depth: int = Field(description="open cases (not closed)")
    oldest_created_at: datetime | None = Field(description="when the oldest open case was opened")
    breached: int = Field(description="open cases with a breached limit")


class QueueList(BaseModel):
    queues: list[QueueSummary]
    next_cursor: str | None = Field(default=None, description="pass as `cursor` for the next page")


class QueueCases(BaseModel):
    queue: str
    items: list[CaseView]
    next_cursor: str | None = Field(description="pass as `cursor` for the next page; null on the last")


@router.get("/admin/routing/rules", response_model=RoutingTableView)
async def routing_rules(ctx: Context, who: Admin) -> RoutingTableView:
    """The routing table in force, in order: the first rule that matches a new case chooses its queue."""

    def read() -> routing_store.RulesInForce:
        with ctx.reads() as session:
            return routing_store.rules_in_force(session)

    return _view(ctx, await run_in_threadpool(read))


@router.put("/admin/routing/rules", response_model=RoutingTableView)
async def replace_routing_rules(
    ctx: Context,
    who: Admin,
    table: Annotated[RoutingTable, Body(openapi_examples={"queues": {"value": EXAMPLE_TABLE}})],
) -> RoutingTableView:
    """Replace the whole ordered table at once (an empty list sends every case to the default queue).

    Validated before anything is stored (422 naming the field: queue names `^[a-z0-9_-]{1,40}$`,
    unknown fields, min above max, amounts in two currencies, more than 500 rules); stored in one
    transaction, so cases opened meanwhile see the old table or the new one, never a mix. Who
    replaced it and when is kept (`routing_changes`) and logged. New cases only: a case keeps its queue."""
    now = datetime.now(UTC)

    def store() -> None:
        with ctx.sessions.begin() as session:
            routing_store.replace_rules(session, table, who.actor, now)

    await run_in_threadpool(store)
    audit_log.info(
        "routing table replaced by %s: %d rule(s), queues %s",
        who.actor,
        len(table.rules),
        ", ".join(sorted({rule.queue for rule in table.rules})) or "-",
    )
    return _view(ctx, routing_store.RulesInForce(list(table.rules), who.actor, now))


def _view(ctx: Context, stored: routing_store.RulesInForce) -> RoutingTableView:
    return RoutingTableView(
        rules=stored.rules,
        default_queue=ctx.settings.default_queue,
        changed_by=stored.changed_by,
        changed_at=stored.changed_at,
    )


@router.get("/queues", response_model=QueueList)
async def list_queues(
    ctx: Context,
    who: QueueReader,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    cursor: Annotated[
        str | None, Query(max_length=40, pattern=r"^[a-z0-9_-]+$", description="a queue name")
    ] = None,
) -> QueueList:
    """Every queue the routing table names (and the default one), with any other queue that still holds
    open cases: depth, the oldest open case's creation time and how many open cases are breached; by
    name, `limit` at a time (`cursor`: the `next_cursor` of the page before, the last name on it).
    Scoped by role: a merchant sees none of this (403)."""

    def read() -> tuple[list[queues.QueueStats], list[RoutingRule]]:
        with ctx.reads() as session:
            return queues.queue_stats(session), routing_store.rules_in_force(session).rules

    stats, rules = await run_in_threadpool(read)
    found = {s.queue: s for s in stats}
    named = {ctx.settings.default_queue, *(rule.queue for rule in rules)}
    summaries = [
        QueueSummary(queue=s.queue, depth=s.depth, oldest_created_at=s.oldest_created_at, breached=s.breached)
        for s in stats
    ] + [
        QueueSummary(queue=name, depth=0, oldest_created_at=None, breached=0)
        for name in named
        if name not in found
    ]
    ordered = [q for q in sorted(summaries, key=lambda q: q.queue) if cursor is None or q.queue > cursor]
    page = ordered[:limit]
    return QueueList(queues=page, next_cursor=page[-1].queue if len(ordered) > limit else None)


@router.get("/queues/{queue}/cases", response_model=QueueCases)
async def queue_cases(
    ctx: Context,
    who: QueueReader,
    queue: QueueName,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    cursor: Annotated[str | None, Query(max_length=300, pattern=r"^[A-Za-z0-9_-]+$")] = None,
) -> QueueCases:
    """The queue's open cases in working order: breached first, then by due time (the earliest of the
    case's deadlines; cases with none last), cursor-paginated. An unknown queue is simply empty."""

    def read() -> tuple[list[dict[str, Any]], str | None]:
        with ctx.reads() as session:
            rows, next_cursor = queues.queue_cases(session, queue, limit=limit, cursor=cursor)
            return [dict(row.view) for row in rows], next_cursor

    try:
        views, next_cursor = await run_in_threadpool(read)
    except ValueError as err:
        raise Problem(422, str(err), type_="/problems/validation") from err
    return QueueCases(queue=queue, items=[CaseView.model_validate(v) for v in views], next_cursor=next_cursor)
