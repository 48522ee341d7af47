"""The console's catalogue: every key in both languages, every enum value the console shows labelled,
money and times formatted for the locale and the platform time zone."""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum

import pytest

from api.console.forms import FORMS
from api.console.i18n import ENUMS, MESSAGES, Translator
from domain.audit import EventKind
from domain.enums import (
    Action,
    Actor,
    CaseStatus,
    CloseReason,
    IssueType,
    Liability,
    Reason,
    Resolution,
    Step,
)
from domain.kpis import KPIS
from tests.support.event_kinds import kinds_the_workflow_writes

LABELLED: dict[str, type[StrEnum]] = {
    "step": Step,
    "status": CaseStatus,
    "action": Action,
    "liability": Liability,
    "resolution": Resolution,
    "issue": IssueType,
    "reason": Reason,
    "close": CloseReason,
    "role": Actor,
}


def test_every_message_has_both_languages() -> None:
    for key, pair in MESSAGES.items():
        assert len(pair) == 2 and all(text.strip() for text in pair), key
    for kind, values in ENUMS.items():
        for value, pair in values.items():
            assert len(pair) == 2 and all(text.strip() for text in pair), (kind, value)


def test_every_event_kind_the_timeline_can_show_has_a_label() -> None:
    """Every audit kind, and every kind the workflow code writes by name (read from its source)."""
    written = kinds_the_workflow_writes()
    shipped = {f"{kind}_shipped" for kind in ("replacement", "repair_return", "resend")}
    assert {k.value for k in EventKind} | written | shipped <= set(ENUMS["event"])


@pytest.mark.parametrize("kind", LABELLED)
def test_every_value_of_every_shown_enum_has_a_label(kind: str) -> None:
    assert set(ENUMS[kind]) == {v.value for v in LABELLED[kind]}


def test_every_form_field_has_a_label() -> None:
    for fields in FORMS.values():
        for field in fields:
            assert field.name == "comment" or f"field.{field.name}" in MESSAGES, field.name


def test_money_and_times_follow_the_locale_and_the_platform_time_zone() -> None:
    zh, en = Translator("zh-CN"), Translator("en")
    money = {"amount": "1299.50", "currency": "CNY"}
    assert zh.money(money) == "¥1,299.50"
    assert en.money(money) == "CN¥1,299.50"
    at = datetime(2026, 12, 5, 16, 30, tzinfo=UTC)
    assert zh.time(at) == en.time(at) == "2026-12-06 00:30"  # Asia/Shanghai
    assert zh.label("step", "awaiting_approval") == "待审批" and en.label("step", "awaiting_approval") == (
        "Awaiting approval"
    )
    assert Translator("fr").lang == "zh-CN"  # unknown languages fall back to the default


def test_a_problem_is_told_in_the_language() -> None:
    problem = {
        "status": 409,
        "title": "Conflict",
        "detail": "case is at step dispute, which does not take approval",
    }
    assert Translator("zh-CN").problem(problem) == {
        "status": "409",
        "title": "当前环节不能执行此操作",
        "detail": "工单当前处于「纠纷裁决」环节，不能执行「审批」。",
    }
    english = Translator("en").problem(problem)
    assert english["title"] == "Not possible at this step"
    assert english["detail"] == "The case is at Dispute, which does not take Approval."
    forbidden = {"status": 403, "detail": "role ops may not do this; allowed: supervisor, system"}
    assert (
        Translator("zh-CN").problem(forbidden)["detail"]
        == "角色「运维」无权执行此操作；允许的角色：supervisor, system。"
    )
    unknown = {"status": 422, "detail": "option 0: refund exceeds what is left"}
    assert (
        Translator("zh-CN").problem(unknown)["detail"] == "option 0: refund exceeds what is left"
    )  # the API's words


def test_every_kpi_has_a_label_and_durations_read_as_words() -> None:
    assert {k.key for k in KPIS} <= set(ENUMS["kpi"])
    zh, en = Translator("zh-CN"), Translator("en")
    assert zh.duration("P1DT20H0M4S") == "1天20小时4秒" and en.duration("PT3H0M0S") == "3 h"
    assert zh.duration("PT0S") == "0秒" and en.kpi("sla_attainment", 0.9375) == "93.8%"
    assert en.kpi("aht_avg_seconds", 3725) == "1 h 2 min 5 s"
