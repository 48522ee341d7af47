"""Agent scorecards (seed 003 奖惩标准; DESIGN §10): the points rules as a versioned table, and how a
month's violations add up. Pure rules, no I/O.

Rules the system observes are scored from what the store recorded (a late first reply, a night
message not answered by 12:00, a late or missing callback, a bad review); the others are entered by a
supervisor with a reason. Seed 003's escalation: a late callback costs double after the third in a
month.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

OBSERVED_CODES = (
    "first_reply_late",
    "night_message_late",
    "callback_late",
    "bad_review",
    "bad_review_with_text",
)


@dataclass(frozen=True)
class Rule:
    code: str
    label: str
    points: Decimal  # negative: a deduction
    observed: bool  # scored by the system from what it recorded; else entered by a supervisor
    doubles_after: int | None = None  # seed 003: the n+1-th in a month and later count double


# Version 1, from seed 003 (the first reply has no figure there: -1 is the platform's choice).
SEED_003_RULES: tuple[Rule, ...] = (
    Rule("first_reply_late", "First reply to a customer message later than its limit", Decimal("-1"), True),
    Rule(
        "night_message_late",
        "Night message not answered by 12:00 of the next working day",
        Decimal("-1.5"),
        True,
    ),
    Rule("callback_late", "Next-day callback not done on its day (or never)", Decimal("-0.5"), True, 3),
    Rule("bad_review", "Bad review (CSAT 2 or less) of a case the agent held", Decimal("-3"), True),
    Rule("bad_review_with_text", "Bad review with a written complaint", Decimal("-5"), True),
    Rule("callback_form_missing", "Callback form not done, done wrong or left out", Decimal("-1"), False),
    Rule(
        "unsolved_not_escalated", "Problem not solved and not escalated to a supervisor", Decimal("-3"), False
    ),
    Rule("shipping_not_arranged", "Shipping not arranged within one working day", Decimal("-3"), False),
    Rule(
        "misquote",
        "Wrong price or product information that led to a complaint or a loss",
        Decimal("-5"),
        False,
    ),
    Rule("away_not_set", "Left the desk over 1 minute without setting away", Decimal("-1"), False),
    Rule(
        "daily_report_late",
        "Daily data report not complete by 10:00 of the next working day",
        Decimal("-1.5"),
        False,
    ),
    Rule("report_leak", "Data report leaked or shown to someone not authorised", Decimal("-10"), False),
)


def rule_problems(rules: list[Rule]) -> list[str]:
    """Why a rule table cannot work (empty: it can)."""
    problems: list[str] = []
    seen: set[str] = set()
    for n, rule in enumerate(rules):
        if rule.code in seen:
            problems.append(f"rules.{n}.code: {rule.code!r} is listed twice")
        seen.add(rule.code)
        if rule.observed and rule.code not in OBSERVED_CODES:
            problems.append(f"rules.{n}.observed: the system observes only {', '.join(OBSERVED_CODES)}")
        if rule.doubles_after is not None and rule.doubles_after < 1:
            problems.append(f"rules.{n}.doubles_after: at least 1")
    missing = [code for code in OBSERVED_CODES if code not in seen]
    if missing:
        problems.append(f"rules: the observed rules must stay in the table (missing {', '.join(missing)})")
    return problems


def points_for(rule: Rule, nth_in_month: int) -> Decimal:
    """The points of the `nth_in_month` violation of `rule` (1-based) by one agent in one month."""
    if rule.doubles_after is not None and nth_in_month > rule.doubles_after:
        return rule.points * 2
    return rule.points
