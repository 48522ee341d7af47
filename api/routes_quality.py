"""Quality review (复核, seed 000 §1.2; DESIGN §9): the QC queue of closed cases, the checklist (a
table supervisors edit), and a supervisor's scores. A review is scored once and kept as scored."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, ConfigDict, Field, field_validator

from api.auth import Admin, Identity, require
from api.deps import Context
from api.problems import Problem
from domain.enums import Actor
from domain.quality import ChecklistItem, ReviewReason
from store import quality
from store.listing import decode_cursor, encode_cursor
from store.models import QualityReviewRow

router = APIRouter(prefix="/v1", tags=["quality"])
Reviewer = Annotated[Identity, Depends(require(frozenset({Actor.SUPERVISOR})))]
QueueReader = Annotated[Identity, Depends(require(frozenset({Actor.SUPERVISOR, Actor.OPS, Actor.SYSTEM})))]
ChecklistReader = Annotated[
    Identity, Depends(require(frozenset({Actor.SUPERVISOR, Actor.OPS, Actor.SYSTEM, Actor.AGENT})))
]
ITEM_ID = r"^[a-z][a-z0-9_]{0,39}$"


class Item(BaseModel):
    model_config = ConfigDict(extra="forbid")

    item_id: str = Field(pattern=ITEM_ID)
    label: str = Field(min_length=1, max_length=200)
    max_points: int = Field(ge=1, le=100)


class Checklist(BaseModel):
    model_config = ConfigDict(extra="forbid")

    items: list[Item] = Field(min_length=1, max_length=50)

    @field_validator("items")
    @classmethod
    def _unique(cls, items: list[Item]) -> list[Item]:
        seen: set[str] = set()
        for item in items:
            if item.item_id in seen:
                raise ValueError(f"item {item.item_id!r} is listed twice")
            seen.add(item.item_id)
        return items


class Scores(BaseModel):
    model_config = ConfigDict(extra="forbid")

    scores: dict[str, int] = Field(description="points per checklist item; every item scored")
    comment: str = Field(default="", max_length=2000)


class Review(BaseModel):
    case_id: str
    selected_at: datetime
    reasons: list[ReviewReason]
    agent: str | None = Field(description="who held the case when it closed")
    status: str
    reviewer: str | None = None
    reviewed_at: datetime | None = None
    scores: dict[str, int] | None = None
    total: int | None = None
    max_total: int | None = None
    comment: str | None = None


class ReviewList(BaseModel):
    items: list[Review]
    next_cursor: str | None = None


def review_of(row: QualityReviewRow) -> Review:
    return Review(
        case_id=row.case_id,
        selected_at=row.selected_at,
        reasons=[ReviewReason(r) for r in row.reasons.split()],
        agent=row.agent,
        status=row.status,
        reviewer=row.reviewer,
        reviewed_at=row.reviewed_at,
        scores=row.scores,
        total=row.total,
        max_total=row.max_total,
        comment=row.comment,
    )


@router.get("/quality/checklist", response_model=Checklist)
async def get_checklist(ctx: Context, who: ChecklistReader) -> Checklist:
    """The checklist in force, in order."""

    def read() -> list[ChecklistItem]:
        with ctx.reads() as session:
            return quality.checklist(session)

    items = await run_in_threadpool(read)
    return Checklist(items=[Item(item_id=i.item_id, label=i.label, max_points=i.max_points) for i in items])


@router.put("/admin/quality/checklist", response_model=Checklist)
async def put_checklist(ctx: Context, who: Admin, body: Checklist) -> Checklist:
    """Replace the checklist (a table, not code). Items left out stay on record, inactive; reviews
    already scored keep the scores they were given."""
    items = [ChecklistItem(i.item_id, i.label, i.max_points) for i in body.items]

    def write() -> None:
        with ctx.sessions.begin() as session:
            quality.replace_checklist(session, items, who.actor)

    await run_in_threadpool(write)
    return body


@router.get("/quality/reviews", response_model=ReviewList)
async def list_reviews(
    ctx: Context,
    who: QueueReader,
    status: Annotated[str, Query(pattern=r"^(pending|scored)$")] = "pending",
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    cursor: Annotated[str | None, Query(max_length=200, pattern=r"^[A-Za-z0-9_=-]+$")] = None,
) -> ReviewList:
    """The QC queue (`pending`, oldest first) or the reviews done (`scored`), cursor-paginated."""
    after = _decode(cursor)

    def read() -> list[QualityReviewRow]:
        with ctx.reads() as session:
            return quality.list_reviews(session, status, after, limit + 1)

    rows = await run_in_threadpool(read)
    page = rows[:limit]
    next_cursor = _encode(page[-1]) if len(rows) > limit else None
    return ReviewList(items=[review_of(r) for r in page], next_cursor=next_cursor)


@router.post("/quality/reviews/{case_id}/score", response_model=Review)
async def score_review(
    ctx: Context,
    who: Reviewer,
    case_id: Annotated[str, Path(pattern=r"^[A-Za-z0-9_-]{1,40}$")],
    body: Scores,
) -> Review:
    """Score a pending review against the checklist in force: every item, each within 0..its max
    (422 naming the item); once (409 after); only cases in the QC queue (404)."""

    def write() -> Review | quality.ScoreRefused:
        with ctx.sessions.begin() as session:
            done = quality.score(session, case_id, body.scores, body.comment, who.actor)
            return review_of(done) if isinstance(done, QualityReviewRow) else done

    done = await run_in_threadpool(write)
    if isinstance(done, quality.ScoreRefused):
        if done.problems:
            errors = [{"field": p.split(":")[0], "message": p} for p in done.problems]
            raise Problem(done.status, done.detail, type_="/problems/quality-review", errors=errors)
        raise Problem(done.status, done.detail, type_="/problems/quality-review")
    return done


def _encode(row: QualityReviewRow) -> str:
    return encode_cursor(row.selected_at, row.case_id)


def _decode(cursor: str | None) -> tuple[datetime, str] | None:
    if cursor is None:
        return None
    try:
        return decode_cursor(cursor)
    except ValueError:
        raise Problem(422, "cursor: not one this endpoint gave", type_="/problems/validation") from None
