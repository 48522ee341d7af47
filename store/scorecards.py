"""Agent scorecards in the store (seed 003; DESIGN §10): the versioned points table, supervisors'
entries, and a month's violations per agent — observed ones read from what the store recorded (first
replies, night messages, callbacks, surveys), each with its case and the record that caused it."""

from __future__ import annotations

import logging
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, time
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import ColumnElement, and_, func, or_, select
from sqlalchemy.orm import InstrumentedAttribute, Session

from domain.calendar import DEFAULT_TIMEZONE
from domain.scorecard import Rule, points_for
from store.common import utcnow
from store.models import (
    CallbackRow,
    CaseRow,
    MessageRow,
    QualityReviewRow,
    ScorecardEntryRow,
    ScorecardRuleRow,
    SurveyRow,
)

audit = logging.getLogger("audit.scorecards")


def rules_in_force(session: Session) -> tuple[int, list[Rule]]:
    version = session.scalar(select(func.max(ScorecardRuleRow.version))) or 0
    rows = session.scalars(
        select(ScorecardRuleRow).where(ScorecardRuleRow.version == version).order_by(ScorecardRuleRow.code)
    )
    return int(version), [Rule(r.code, r.label, r.points, r.observed, r.doubles_after) for r in rows]


def add_version(session: Session, rules: list[Rule], actor: str) -> int:
    """A new version of the whole table, in force from now; earlier versions stay as they were. Two
    added at once collide on (version, code): the later commit fails (IntegrityError)."""
    version = int(session.scalar(select(func.max(ScorecardRuleRow.version))) or 0) + 1
    now = utcnow()
    for rule in rules:
        session.add(
            ScorecardRuleRow(
                version=version,
                code=rule.code,
                label=rule.label,
                points=rule.points,
                observed=rule.observed,
                doubles_after=rule.doubles_after,
                effective_from=now,
                created_by=actor,
            )
        )
    audit.info("scorecard rules version %d by %s: %d rules", version, actor, len(rules))
    return version


def add_entry(
    session: Session, person_id: str, month: str, code: str, case_id: str | None, reason: str, actor: str
) -> ScorecardEntryRow:
    row = ScorecardEntryRow(
        person_id=person_id,
        month=month,
        code=code,
        case_id=case_id,
        reason=reason,
        entered_by=actor,
        entered_at=utcnow(),
    )
    session.add(row)
    session.flush()
    audit.info("scorecard entry %d: %s %s %s by %s: %s", row.entry_id, person_id, month, code, actor, reason)
    return row


def reverse_entry(session: Session, entry_id: int, reason: str, actor: str) -> ScorecardEntryRow | None:
    row = session.get(ScorecardEntryRow, entry_id, with_for_update=True)
    if row is None:
        return None
    if row.reversed_at is None:
        row.reversed_by, row.reversed_at, row.reversal_reason = actor, utcnow(), reason
        audit.info("scorecard entry %d reversed by %s: %s", entry_id, actor, reason)
    return row


@dataclass(frozen=True)
class Violation:
    code: str
    points: Decimal
    at: datetime
    case_id: str | None
    source: str  # observed or entered
    ref: str  # the record that caused it: a message, a callback, a survey, an entry
    note: str = ""


@dataclass
class Scorecard:
    person_id: str
    violations: list[Violation] = field(default_factory=list)
    # Quality reviews (复核) of the agent's cases scored this month: how many, and their share of the
    # points possible (None without any).
    quality_reviews: int = 0
    quality_score: float | None = None

    @property
    def total(self) -> Decimal:
        return sum((v.points for v in self.violations), Decimal(0))


def month_bounds(month: str, timezone: str = DEFAULT_TIMEZONE) -> tuple[datetime, datetime]:
    """[start, end) of a YYYY-MM month in the platform's time zone."""
    year, number = map(int, month.split("-"))
    zone = ZoneInfo(timezone)
    start = datetime.combine(date(year, number, 1), time(0), tzinfo=zone)
    following = date(year + number // 12, number % 12 + 1, 1)
    return start, datetime.combine(following, time(0), tzinfo=zone)


def monthly(
    session: Session, month: str, person_id: str | None = None, now: datetime | None = None
) -> list[Scorecard]:
    """Every agent's scorecard for the month (or one agent's), with the rules in force."""
    start, end = month_bounds(month)
    now = now or utcnow()
    _, rules = rules_in_force(session)
    by_code = {r.code: r for r in rules}
    found: list[tuple[Any, ...]] = []  # (person, code, at, case, source, ref)

    def who(column: InstrumentedAttribute[str | None]) -> ColumnElement[bool]:
        return column == person_id if person_id is not None else column.is_not(None)

    for code, column in (
        ("first_reply_late", MessageRow.frt_breached_at),
        ("night_message_late", MessageRow.night_violation_at),
    ):
        replies = select(MessageRow.responsible, column, MessageRow.case_id, MessageRow.message_id).where(
            column >= start, column < end, who(MessageRow.responsible)
        )
        found += [
            (p, code, at, case, "observed", f"message {m}") for p, at, case, m in session.execute(replies)
        ]

    zone = ZoneInfo(DEFAULT_TIMEZONE)
    today_start = datetime.combine(now.astimezone(zone).date(), time(0), tzinfo=zone)
    late_or_missing = or_(
        and_(CallbackRow.late.is_(True), CallbackRow.done_at >= start, CallbackRow.done_at < end),
        and_(
            CallbackRow.status == "pending",
            CallbackRow.due_at >= start,
            CallbackRow.due_at < min(end, today_start),
        ),
    )
    calls = select(
        CallbackRow.assignee, CallbackRow.due_at, CallbackRow.case_id, CallbackRow.attempt, CallbackRow.status
    ).where(late_or_missing, who(CallbackRow.assignee))
    found += [
        (
            p,
            "callback_late",
            due,
            case,
            "observed",
            f"callback attempt {n}{' (never done)' if status == 'pending' else ''}",
        )
        for p, due, case, n, status in session.execute(calls)
    ]

    reviews = (
        select(CaseRow.assigned_to, SurveyRow.at, SurveyRow.case_id, SurveyRow.seq, SurveyRow.comment)
        .join(CaseRow, CaseRow.case_id == SurveyRow.case_id)
        .where(SurveyRow.csat <= 2, SurveyRow.at >= start, SurveyRow.at < end, who(CaseRow.assigned_to))
    )
    found += [
        (p, "bad_review_with_text" if comment else "bad_review", at, case, "observed", f"survey {seq}")
        for p, at, case, seq, comment in session.execute(reviews)
    ]

    entries = select(ScorecardEntryRow).where(
        ScorecardEntryRow.month == month, ScorecardEntryRow.reversed_at.is_(None)
    )
    if person_id is not None:
        entries = entries.where(ScorecardEntryRow.person_id == person_id)
    notes: dict[str, str] = {}
    for entry in session.scalars(entries):
        ref = f"entry {entry.entry_id}"
        notes[ref] = entry.reason
        found.append((entry.person_id, entry.code, entry.entered_at, entry.case_id, "entered", ref))

    cards: dict[str, Scorecard] = {}
    reviewed = (
        select(
            QualityReviewRow.agent,
            func.count(),
            func.sum(QualityReviewRow.total),
            func.sum(QualityReviewRow.max_total),
        )
        .where(
            QualityReviewRow.status == "scored",
            QualityReviewRow.reviewed_at >= start,
            QualityReviewRow.reviewed_at < end,
            who(QualityReviewRow.agent),
        )
        .group_by(QualityReviewRow.agent)
    )
    for person, count, total, possible in session.execute(reviewed):
        if person is None:
            continue
        card = cards.setdefault(person, Scorecard(person))
        card.quality_reviews = int(count)
        card.quality_score = round(float(total or 0) / float(possible), 4) if possible else None
    counts: dict[tuple[str, str], int] = defaultdict(int)
    for person, code, at, case, source, ref in sorted(found, key=lambda f: (f[0], f[2], f[5])):
        rule = by_code.get(code)
        if rule is None:
            continue  # a rule the version in force no longer has
        counts[(person, code)] += 1
        card = cards.setdefault(person, Scorecard(person))
        card.violations.append(
            Violation(
                code, points_for(rule, counts[(person, code)]), at, case, source, ref, notes.get(ref, "")
            )
        )
    return [cards[p] for p in sorted(cards)]
