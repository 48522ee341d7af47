"""Agent scorecards (seed 003 奖惩标准; DESIGN §10): `GET /v1/reports/scorecards?month=` per agent
(JSON, or CSV with `Accept: text/csv`), the versioned points table, and supervisors' entries for what
the system cannot observe (with a reason, reversible). An agent sees only their own scorecard."""

from __future__ import annotations

import csv
import io
import re
from datetime import UTC, datetime
from decimal import Decimal
from typing import Annotated
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.exc import IntegrityError

from api.auth import Admin, Identity, require
from api.deps import Context
from api.problems import Problem
from domain.calendar import DEFAULT_TIMEZONE
from domain.enums import Actor
from domain.scorecard import Rule, rule_problems
from store import people, scorecards

router = APIRouter(prefix="/v1", tags=["scorecards"])
Reader = Annotated[
    Identity, Depends(require(frozenset({Actor.AGENT, Actor.SUPERVISOR, Actor.OPS, Actor.SYSTEM})))
]
Supervisor = Annotated[Identity, Depends(require(frozenset({Actor.SUPERVISOR})))]
MONTH = r"^\d{4}-(0[1-9]|1[0-2])$"
CODE = r"^[a-z][a-z0-9_]{0,39}$"


class RuleView(BaseModel):
    model_config = ConfigDict(extra="forbid")

    code: str = Field(pattern=CODE)
    label: str = Field(min_length=1, max_length=200)
    points: Decimal = Field(ge=-100, le=100, decimal_places=2)
    observed: bool = False
    doubles_after: int | None = Field(default=None, ge=1, le=100)


class RuleTable(BaseModel):
    model_config = ConfigDict(extra="forbid")

    version: int | None = None
    rules: list[RuleView] = Field(min_length=1, max_length=200)


class ViolationView(BaseModel):
    code: str
    points: Decimal
    at: datetime
    case_id: str | None
    source: str = Field(description="observed (scored from what the system recorded) or entered")
    ref: str = Field(description="the record behind it: a message, a callback attempt, a survey, an entry")
    note: str = ""


class ScorecardView(BaseModel):
    person_id: str
    total: Decimal
    violations: list[ViolationView]
    quality_reviews: int = Field(
        default=0, description="quality reviews (复核) of the agent's cases scored this month"
    )
    quality_score: float | None = Field(
        default=None, description="their points as a share of the points possible"
    )


class Scorecards(BaseModel):
    month: str
    rules_version: int
    items: list[ScorecardView]


class NewEntry(BaseModel):
    model_config = ConfigDict(extra="forbid")

    person_id: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,39}$")
    code: str = Field(pattern=CODE)
    month: str | None = Field(default=None, pattern=MONTH, description="default: this month")
    case_id: str | None = Field(default=None, max_length=40)
    reason: str = Field(min_length=1, max_length=500)


class Reversal(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: str = Field(min_length=1, max_length=500)


class EntryView(BaseModel):
    entry_id: int
    person_id: str
    month: str
    code: str
    case_id: str | None
    reason: str
    entered_by: str
    entered_at: datetime
    reversed_by: str | None = None
    reversed_at: datetime | None = None
    reversal_reason: str | None = None


def _month_now() -> str:
    return datetime.now(UTC).astimezone(ZoneInfo(DEFAULT_TIMEZONE)).strftime("%Y-%m")


@router.get("/reports/scorecards", response_model=Scorecards)
async def get_scorecards(
    ctx: Context,
    who: Reader,
    request: Request,
    month: Annotated[str | None, Query(description="YYYY-MM; default: this month")] = None,
    person_id: Annotated[str | None, Query(max_length=40)] = None,
) -> Response | Scorecards:
    """The month's scorecard per agent: each violation with its points, case and the record behind
    it. An agent gets only their own; supervisors, ops and the platform's systems everyone's."""
    month = month or _month_now()
    if not re.match(MONTH, month):
        raise Problem(422, f"month: {month!r} is not YYYY-MM", type_="/problems/validation")
    if who.role == Actor.AGENT:
        if who.person_id is None:
            raise Problem(
                409,
                "this API key belongs to no person: a scorecard is a person's",
                type_="/problems/no-person",
            )
        if person_id not in (None, who.person_id):
            raise Problem(403, "an agent sees only their own scorecard")
        person_id = who.person_id

    def read() -> tuple[int, list[scorecards.Scorecard]]:
        with ctx.reads() as session:
            version, _ = scorecards.rules_in_force(session)
            return version, scorecards.monthly(session, month, person_id)

    version, cards = await run_in_threadpool(read)
    body = Scorecards(
        month=month,
        rules_version=version,
        items=[
            ScorecardView(
                person_id=c.person_id,
                total=c.total,
                violations=[ViolationView(**v.__dict__) for v in c.violations],
                quality_reviews=c.quality_reviews,
                quality_score=c.quality_score,
            )
            for c in cards
        ],
    )
    if "text/csv" in request.headers.get("accept", ""):
        return Response(_csv(body), media_type="text/csv; charset=utf-8")
    return body


def _csv(body: Scorecards) -> str:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(
        ["month", "person_id", "code", "points", "at", "case_id", "source", "ref", "note", "person_total"]
    )
    for card in body.items:
        for v in card.violations:
            writer.writerow(
                [
                    body.month,
                    card.person_id,
                    v.code,
                    v.points,
                    v.at.isoformat(),
                    v.case_id or "",
                    v.source,
                    v.ref,
                    v.note,
                    card.total,
                ]
            )
    return out.getvalue()


@router.get("/reports/scorecard-rules", response_model=RuleTable)
async def get_rules(ctx: Context, who: Reader) -> RuleTable:
    """The points table in force (seed 003's, unless a newer version was added)."""

    def read() -> tuple[int, list[Rule]]:
        with ctx.reads() as session:
            return scorecards.rules_in_force(session)

    version, rules = await run_in_threadpool(read)
    return RuleTable(version=version, rules=[RuleView(**r.__dict__) for r in rules])


@router.put("/admin/scorecard-rules", response_model=RuleTable)
async def put_rules(ctx: Context, who: Admin, body: RuleTable) -> RuleTable:
    """Add a new version of the whole table, in force from now; past versions never change."""
    rules = [Rule(r.code, r.label, r.points, r.observed, r.doubles_after) for r in body.rules]
    problems = rule_problems(rules)
    if problems:
        raise Problem(
            422, problems[0], type_="/problems/validation", errors=[{"message": p} for p in problems]
        )

    def write() -> int:
        with ctx.sessions.begin() as session:
            return scorecards.add_version(session, rules, who.actor)

    try:
        version = await run_in_threadpool(write)
    except IntegrityError as err:
        raise Problem(409, "another version was added at the same moment; read the table and retry") from err
    return body.model_copy(update={"version": version})


@router.post("/reports/scorecards/entries", response_model=EntryView, status_code=201)
async def add_entry(ctx: Context, who: Supervisor, body: NewEntry) -> EntryView:
    """A violation the system cannot observe, entered with a reason (audited; reversible)."""
    month = body.month or _month_now()

    def write() -> EntryView | str:
        with ctx.sessions.begin() as session:
            _, rules = scorecards.rules_in_force(session)
            rule = next((r for r in rules if r.code == body.code), None)
            if rule is None:
                return f"code: {body.code!r} is not a rule of the table in force"
            if rule.observed:
                return f"code: {body.code!r} is scored by the system from what it records, not entered"
            person = people.get_person(session, body.person_id)
            if person is None or person.role != Actor.AGENT:
                return f"person_id: {body.person_id} is not an agent"
            row = scorecards.add_entry(
                session, body.person_id, month, body.code, body.case_id, body.reason, who.actor
            )
            return EntryView.model_validate(row, from_attributes=True)

    done = await run_in_threadpool(write)
    if isinstance(done, str):
        raise Problem(422, done, type_="/problems/validation")
    return done


@router.post("/reports/scorecards/entries/{entry_id}/reverse", response_model=EntryView)
async def reverse_entry(ctx: Context, who: Supervisor, entry_id: int, body: Reversal) -> EntryView:
    """Reverse an entry (kept, with who, when and why); reversing twice changes nothing."""

    def write() -> EntryView | None:
        with ctx.sessions.begin() as session:
            row = scorecards.reverse_entry(session, entry_id, body.reason, who.actor)
            return EntryView.model_validate(row, from_attributes=True) if row is not None else None

    done = await run_in_threadpool(write)
    if done is None:
        raise Problem(404, f"no scorecard entry {entry_id}")
    return done
