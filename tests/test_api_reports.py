"""Reports (issue 16): every KPI of docs/KPIS.md over a small hand-made set of cases whose figures
are written here, worked out by hand from the cases below.

The cases are stored as a workflow would have left them (intake, then one delta that carries the
trail and the closing view), on a database of their own, and read over HTTP by the real app.

- C1 (M-A; return_and_refund, quality_issue, app, appliances; P-1; closes 10-05 Shanghai): merchant
  answers, proposal, accepted, refund 129.00 two hours later, CSAT 5, NPS 10.
- C2 (M-A; complaint, other, hotline, appliances; P-1; 10-05): merchant late (a breach), two
  proposals, the dispute team rules refund_only, refund 50.00 an hour later, CSAT 2, NPS 3.
- C3 (M-B; exchange, wrong_item, web, toys; nobody; 10-06): proposal late (a breach), first option
  auto-accepted, appealed, CSAT 4, NPS 9.
- C4 (M-B; return_and_refund, changed_mind, app, toys; nobody; 10-07 in Shanghai, 10-06 16:30 UTC):
  withdrawn while waiting on the customer; no platform clock.
- C5 (M-A; repair, quality_issue, chat, appliances; P-2; 10-06): inspection auto-passed, survey sent,
  not answered.

Platform clocks at close (AHT): C1 3 h, C2 2 h, C3 1 h, C5 30 min.
"""

from __future__ import annotations

import csv
import io
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, cast

import httpx
import pytest
from fastapi.testclient import TestClient
from pydantic_core import to_jsonable_python
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker
from temporalio.client import Client

from api.app import create_app
from core.settings import Settings
from domain.enums import Step
from domain.kpis import KPIS
from domain.models import CaseRequest
from domain.sla import ClockExplanation
from store import cases, progress
from store.db import make_engine, make_session_factory
from store.keys import create_api_key
from store.migrate import upgrade
from store.models import MessageRow, ReportCaseItemRow, ReportCaseRow
from tests.store import factories as f
from tests.support.databases import scratch_database
from tests.support.keys import vault_for_tests

DAY5 = datetime(2026, 10, 5, 1, 0, tzinfo=UTC)  # 09:00 in Shanghai
ROOT = Path(__file__).resolve().parents[1]


def request(merchant: str, issue: str, reason: str, channel: str, category: str) -> CaseRequest:
    data = f.case_request(merchant_id=merchant, issue_type=issue, reason=reason, channel=channel)
    body = data.model_dump(mode="json")
    body["order"]["lines"][0]["category"] = category
    return CaseRequest.model_validate(body)


def platform_clock(seconds: int, at: datetime) -> dict[str, Any]:
    clock = ClockExplanation(
        clock="platform", step=None, limit="24 working h", basis="working", calendar="business",
        calendar_version=None, policy_version="p1", started_at=at, used=timedelta(seconds=seconds),
        remaining=None, paused=[], frozen_since=None, due_at=None, due_in_calendar_time=None,
        breached_at=None, late_by=None, rungs_fired=[],
    )  # fmt: skip
    return dict(to_jsonable_python(clock))


class Trail:
    """A case's audit events in order, one minute apart unless told."""

    def __init__(self, cid: str, start: datetime) -> None:
        self.cid, self.at, self.events = cid, start, []  # type: ignore[var-annotated]

    def add(self, kind: str, step: Step, after: timedelta = timedelta(minutes=1), **payload: Any) -> None:
        self.at += after
        seq = len(self.events) + 1
        self.events.append(f.event(self.cid, seq, kind, step=step, at=self.at, payload=payload))

    def enter(self, step: Step) -> None:
        self.add("step", step, to=str(step))

    def breach(self, step: Step, party: str) -> None:
        self.add(
            "sla_breached", step, clock=str(step), party=party, action="escalate", step_limit="8 working h"
        )


def store_case(
    db: sessionmaker[Session],
    req: CaseRequest,
    build: Any,
    *,
    closed_at: datetime,
    close_reason: str = "resolved",
    aht: int | None = None,
    agent: str | None = None,
    reason_codes: tuple[str, ...] = (),
    appealed: bool = False,
) -> str:
    cid = f.case_id(DAY5)
    with db.begin() as session:
        cases.create_case(session, cid, f"case-{cid}", None, req, f.initial_view(cid, req, DAY5))
    trail = Trail(cid, DAY5)
    build(trail)
    trail.enter(Step.CLOSED)
    view = f.step_fields(
        Step.CLOSED,
        at=closed_at,
        close_reason=close_reason,
        sla=[platform_clock(aht, DAY5)] if aht is not None else [],
        reason_codes=list(reason_codes),
        appealed=appealed,
        **({"assigned_to": agent} if agent else {}),
    )
    with db.begin() as session:
        progress.apply_delta(session, f.delta(cid, 1, trail.events, view=view))
    return cid


def c1(t: Trail) -> None:
    t.enter(Step.MERCHANT_VERIFICATION)
    t.enter(Step.LIABILITY_AND_PROPOSAL)
    t.add("proposed", Step.LIABILITY_AND_PROPOSAL)
    t.enter(Step.AWAITING_CUSTOMER_DECISION)
    t.add("option_accepted", Step.AWAITING_CUSTOMER_DECISION)
    t.enter(Step.REFUNDING)
    t.add("refunded", Step.REFUNDING, after=timedelta(hours=2), amount="129.00", currency="CNY")
    t.enter(Step.FOLLOW_UP)
    t.add("survey_answered", Step.FOLLOW_UP, csat=5, nps=10)


def c2(t: Trail) -> None:
    t.enter(Step.MERCHANT_VERIFICATION)
    t.breach(Step.MERCHANT_VERIFICATION, "merchant")
    t.enter(Step.LIABILITY_AND_PROPOSAL)
    t.add("proposed", Step.LIABILITY_AND_PROPOSAL)
    t.add("proposed", Step.LIABILITY_AND_PROPOSAL)
    t.enter(Step.DISPUTE)
    t.add("ruled", Step.DISPUTE, resolution="refund_only")
    t.enter(Step.REFUNDING)
    t.add("refunded", Step.REFUNDING, after=timedelta(hours=1), amount="50.00", currency="CNY")
    t.enter(Step.FOLLOW_UP)
    t.add("survey_answered", Step.FOLLOW_UP, csat=2, nps=3)


def c3(t: Trail) -> None:
    t.enter(Step.LIABILITY_AND_PROPOSAL)
    t.breach(Step.LIABILITY_AND_PROPOSAL, "platform")
    t.add("proposed", Step.LIABILITY_AND_PROPOSAL)
    t.enter(Step.AWAITING_CUSTOMER_DECISION)
    t.add("auto_accepted", Step.AWAITING_CUSTOMER_DECISION)
    t.enter(Step.FOLLOW_UP)
    t.add("survey_answered", Step.FOLLOW_UP, csat=4, nps=9)
    t.add("appealed", Step.CLOSED)


def c4(t: Trail) -> None:
    t.enter(Step.AWAITING_CUSTOMER_INFO)
    t.add("withdrawn", Step.AWAITING_CUSTOMER_INFO)


def c5(t: Trail) -> None:
    t.enter(Step.AWAITING_INSPECTION)
    t.add("auto_passed", Step.AWAITING_INSPECTION)
    t.enter(Step.FOLLOW_UP)
    t.add("survey_closed", Step.FOLLOW_UP)


def customer_message(case_id: str, counts_on: str, frs: int | None, late: bool = False) -> MessageRow:
    at = datetime.fromisoformat(counts_on + "T02:00:00+00:00")
    return MessageRow(
        message_id=f"MSG-{uuid.uuid4().hex[:12]}", case_id=case_id, at=at, author="C-42",
        author_party="customer", visibility="customer", text="?", attachments=[],
        counts_on=at.date(), first_response_seconds=frs, replied_at=None if frs is None else at,
        frt_breached_at=at if late else None, night=False,
    )  # fmt: skip


class Api:
    def __init__(self, client: TestClient, keys: dict[str, str], ids: dict[str, str]) -> None:
        self.client, self.keys, self.ids = client, keys, ids

    def get(self, path: str, role: str = "supervisor", **params: Any) -> httpx.Response:
        return self.client.get(path, headers={"Authorization": f"Bearer {self.keys[role]}"}, params=params)

    def kpis(self, role: str = "supervisor", **params: Any) -> dict[str, Any]:
        params.setdefault("from", "2026-10-05")
        params.setdefault("to", "2026-10-07")
        response = self.get("/v1/reports/kpis", role, **params)
        assert response.status_code == 200, response.text
        return dict(response.json())


@pytest.fixture(scope="module")
def api(settings: Settings, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    with scratch_database(tmp_path_factory.mktemp("reports"), "aftersales_reports") as url:
        upgrade(url)
        engine = make_engine(url)
        db = make_session_factory(engine, vault_for_tests())
        keys: dict[str, str] = {}
        with db.begin() as session:
            for role, merchant in (("supervisor", None), ("merchant", "M-A"), ("agent", None)):
                keys[role] = create_api_key(session, role, merchant, role)[1]
        ids = {
            "C1": store_case(
                db, request("M-A", "return_and_refund", "quality_issue", "app", "appliances"), c1,
                closed_at=DAY5 + timedelta(hours=8), aht=3 * 3600, agent="P-1",
            ),
            "C2": store_case(
                db, request("M-A", "complaint", "other", "hotline", "appliances"), c2,
                closed_at=DAY5 + timedelta(hours=9), aht=2 * 3600, agent="P-1",
                reason_codes=("merchant_timeout_auto_accept",),
            ),
            "C3": store_case(
                db, request("M-B", "exchange", "wrong_item", "web", "toys"), c3,
                closed_at=DAY5 + timedelta(days=1, hours=2), aht=3600, appealed=True,
                reason_codes=("customer_timeout_first_option",),
            ),
            "C4": store_case(
                db, request("M-B", "return_and_refund", "changed_mind", "app", "toys"), c4,
                closed_at=datetime(2026, 10, 6, 16, 30, tzinfo=UTC), close_reason="withdrawn",
            ),
            "C5": store_case(
                db, request("M-A", "repair", "quality_issue", "chat", "appliances"), c5,
                closed_at=DAY5 + timedelta(days=1, hours=3), aht=1800, agent="P-2",
                reason_codes=("inspection_timeout_auto_pass",),
            ),
        }  # fmt: skip
        with db.begin() as session:
            session.add_all(
                [
                    customer_message(ids["C1"], "2026-10-05", 60),
                    customer_message(ids["C1"], "2026-10-05", 600),
                    customer_message(ids["C2"], "2026-10-05", 1200, late=True),
                    customer_message(ids["C3"], "2026-10-06", 30),
                    customer_message(ids["C3"], "2026-10-06", None),
                    *(
                        customer_message(ids["C5"], "2026-10-06", s)
                        for s in (100, 200, 300, 400, 500, 700, 800)
                    ),
                    customer_message(ids["C5"], "2026-10-08", 5),  # counts after the range
                ]
            )
        engine.dispose()
        app = create_app(settings.model_copy(update={"database_url": url}), client=cast(Client, object()))
        with TestClient(app) as client:
            yield Api(client, keys, ids)


ALL = {
    "cases_closed": 5,
    "frt_avg_seconds": 444.5,  # (60+600+1200+30+100+200+300+400+500+700+800) / 11
    "frt_p90_seconds": 800,  # 10th of the 11 sorted (ceil(0.9 * 11) = 10)
    "frt_answered": 11,
    "frt_unanswered": 1,
    "frt_breaches": 1,
    "aht_avg_seconds": 5850.0,  # (10800 + 7200 + 3600 + 1800) / 4; C4 has no platform clock
    "fcr_rate": 0.5,  # decided: C1 C2 C3 C5; first contact: C1, C5 (C2 disputed + 2nd remedy, C3 appealed)
    "csat_avg": 3.67,  # (5 + 2 + 4) / 3
    "csat_satisfied_share": 0.6667,
    "nps": 33.3,  # promoters C1 C3, detractor C2, of 3
    "survey_response_rate": 0.75,  # sent C1 C2 C3 C5, answered 3
    "complaint_rate_per_100": 20.0,
    "complaint_rate_per_1000_orders": 0.5,  # 1 complaint, orders=2000
    "sla_limits": 13,
    "sla_breaches": 2,
    "sla_attainment": 0.8462,  # 11 / 13
    "sla_attainment_platform": 0.9,  # 9 / 10
    "sla_attainment_merchant": 0.6667,  # 2 / 3
    "sla_by_step": {
        "awaiting_inspection": {"party": "merchant", "limits": 1, "breaches": 0, "attainment": 1.0},
        "dispute": {"party": "platform", "limits": 1, "breaches": 0, "attainment": 1.0},
        "liability_and_proposal": {"party": "platform", "limits": 3, "breaches": 1, "attainment": 0.6667},
        "merchant_verification": {"party": "merchant", "limits": 2, "breaches": 1, "attainment": 0.5},
        "platform": {"party": "platform", "limits": 4, "breaches": 0, "attainment": 1.0},
        "refunding": {"party": "platform", "limits": 2, "breaches": 0, "attainment": 1.0},
    },
    "auto_decisions": {
        "customer_timeout_first_option": 1,
        "inspection_timeout_auto_pass": 1,
        "merchant_timeout_auto_accept": 1,
    },
    "refunds_count": 2,
    "refunds_amount": "179.00",
    # (2 h 1 min + 1 h 1 min) / 2: the refunding step starts a minute after the decision
    "refund_time_avg_seconds": 5460.0,
    "withdrawal_rate": 0.2,
    "appeal_rate": 0.2,
    "dispute_outcomes": {"refund_only": 1},
}


def test_every_kpi_over_the_hand_made_cases(api: Api) -> None:
    report = api.kpis(orders=2000)
    assert (report["from"], report["to"], report["timezone"]) == ("2026-10-05", "2026-10-07", "Asia/Shanghai")
    [group] = report["groups"]
    assert group["group"] == {}
    assert group["kpis"] == ALL
    assert group["unavailable"] == {}
    assert set(ALL) >= {k.key for k in KPIS}


def test_grouped_by_merchant_and_day_in_the_platform_time_zone(api: Api) -> None:
    report = api.kpis(group_by="merchant,period:day")
    rows = {(g["group"]["merchant"], g["group"]["period"]): g["kpis"] for g in report["groups"]}
    # C4 closed 16:30 UTC on the 6th: the 7th in Shanghai. M-B has messages on the 6th only.
    assert {key: row["cases_closed"] for key, row in rows.items()} == {
        ("M-A", "2026-10-05"): 2,
        ("M-A", "2026-10-06"): 1,
        ("M-B", "2026-10-06"): 1,
        ("M-B", "2026-10-07"): 1,
    }
    a5, a6 = rows[("M-A", "2026-10-05")], rows[("M-A", "2026-10-06")]
    assert (a5["frt_answered"], a5["frt_avg_seconds"], a5["frt_p90_seconds"], a5["frt_breaches"]) == (
        3,
        620.0,
        1200,
        1,
    )
    assert (a6["frt_answered"], a6["frt_avg_seconds"], a6["frt_p90_seconds"]) == (7, 428.6, 800)  # 3000 / 7
    assert (a5["aht_avg_seconds"], a5["refunds_amount"], a5["complaint_rate_per_100"]) == (
        9000.0,
        "179.00",
        50.0,
    )
    b7 = rows[("M-B", "2026-10-07")]
    assert (b7["withdrawal_rate"], b7["aht_avg_seconds"], b7["frt_avg_seconds"]) == (1.0, None, None)
    [b7_group] = [g for g in report["groups"] if g["group"] == {"merchant": "M-B", "period": "2026-10-07"}]
    assert set(b7_group["unavailable"]) >= {
        "aht_avg_seconds",
        "frt_avg_seconds",
        "frt_p90_seconds",
        "csat_avg",
    }


def test_grouped_by_the_other_dimensions(api: Api) -> None:
    def closed(dim: str) -> dict[str, int]:
        return {g["group"][dim]: g["kpis"]["cases_closed"] for g in api.kpis(group_by=dim)["groups"]}

    assert closed("issue_type") == {"complaint": 1, "exchange": 1, "repair": 1, "return_and_refund": 2}
    assert closed("reason") == {"changed_mind": 1, "other": 1, "quality_issue": 2, "wrong_item": 1}
    assert closed("category") == {"appliances": 3, "toys": 2}
    assert closed("channel") == {"app": 2, "chat": 1, "hotline": 1, "web": 1}
    assert closed("queue") == {"general": 5}
    assert closed("agent") == {"P-1": 2, "P-2": 1, "none": 2}
    weeks = api.kpis(group_by="period:week")["groups"]  # 2026-10-05 is a Monday
    assert [(g["group"]["period"], g["kpis"]["cases_closed"], g["kpis"]["frt_answered"]) for g in weeks] == [
        ("2026-10-05", 5, 11)
    ]
    months = api.kpis(group_by="period:month", to="2026-10-08")["groups"]
    assert [(g["group"]["period"], g["kpis"]["frt_answered"]) for g in months] == [("2026-10-01", 12)]


def test_a_merchant_gets_its_own_figures_only(api: Api) -> None:
    report = api.kpis("merchant", group_by="merchant")
    assert report["merchant_id"] == "M-A"
    assert [g["group"]["merchant"] for g in report["groups"]] == ["M-A"]
    [whole] = api.kpis("merchant")["groups"]
    assert (whole["kpis"]["cases_closed"], whole["kpis"]["frt_answered"], whole["kpis"]["csat_avg"]) == (
        3,
        10,
        3.5,
    )
    assert whole["kpis"]["frt_p90_seconds"] == 800  # 9th of 10


def test_csv_has_a_line_per_group_with_flat_columns(api: Api) -> None:
    response = api.client.get(
        "/v1/reports/kpis",
        params={"from": "2026-10-05", "to": "2026-10-07", "group_by": "merchant"},
        headers={"Authorization": f"Bearer {api.keys['supervisor']}", "Accept": "text/csv"},
    )
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(response.text)))
    assert [(r["merchant"], r["cases_closed"], r["frt_unanswered"]) for r in rows] == [
        ("M-A", "3", "0"),
        ("M-B", "2", "1"),
    ]
    assert rows[0]["sla_by_step.merchant_verification.breaches"] == "1"
    assert rows[1]["aht_avg_seconds"] == "3600.0" and rows[0]["from"] == "2026-10-05"


@pytest.mark.parametrize(
    ("params", "says"),
    [
        ({"from": "2026-10-07", "to": "2026-10-05"}, "before"),
        ({"from": "2025-01-01", "to": "2026-10-05"}, "at most 366"),
        ({"group_by": "merchant,planet"}, "unknown dimension"),
        ({"group_by": "period:year"}, "period size"),
        ({"group_by": "merchant,merchant"}, "twice"),
        ({"from": "2026-13-01"}, "from"),
        ({"kpis": "csat_avg,happiness"}, "kpis: unknown KPI 'happiness'"),
    ],
)
def test_bad_ranges_and_groupings_are_422_problems(api: Api, params: dict[str, str], says: str) -> None:
    response = api.get("/v1/reports/kpis", **params)
    assert response.status_code == 422, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert says in response.text


def test_the_field_is_named_in_the_problem(api: Api) -> None:
    reversed_ = api.get("/v1/reports/kpis", **{"from": "2026-10-07", "to": "2026-10-05"}).json()
    too_long = api.get("/v1/reports/kpis", **{"from": "2025-01-01", "to": "2026-10-05"}).json()
    grouping = api.get("/v1/reports/kpis", group_by="planet").json()
    assert [p["detail"].split(":")[0] for p in (reversed_, too_long, grouping)] == ["to", "from", "group_by"]


def test_kpis_picks_figures_and_merchant_id_scopes_them(api: Api) -> None:
    [only] = api.kpis(kpis="cases_closed,csat_avg", merchant_id="M-A")["groups"]
    assert set(only["kpis"]) == {"cases_closed", "csat_avg"} and only["kpis"]["cases_closed"] == 3
    assert api.kpis("merchant", merchant_id="M-A")["groups"][0]["kpis"]["cases_closed"] == 3
    other = api.get(
        "/v1/reports/kpis", "merchant", merchant_id="M-B", **{"from": "2026-10-05", "to": "2026-10-07"}
    )
    assert other.status_code == 404  # another merchant's figures do not exist for this merchant


def test_definitions_are_the_docs_text(api: Api) -> None:
    response = api.get("/v1/reports/definitions", "agent")
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["timezone"] == "Asia/Shanghai" and body["max_range_days"] == 366
    assert [k["key"] for k in body["kpis"]] == [k.key for k in KPIS]
    docs = " ".join((ROOT / "docs" / "KPIS.md").read_text().split())
    for kpi in KPIS:
        assert f"`{kpi.key}`" in docs
        assert " ".join(kpi.definition.split()) in docs, kpi.key
    assert "group_by=merchant,period:week" in docs


def test_a_reopened_case_leaves_the_figures_until_it_closes_again(api: Api) -> None:
    sessions: sessionmaker[Session] = api.client.app.state.ctx.sessions  # type: ignore[attr-defined]
    cid = api.ids["C5"]
    reopen = f.step_fields(Step.DISPUTE, at=DAY5 + timedelta(days=2))
    with sessions.begin() as session:
        progress.apply_delta(session, f.delta(cid, 2, view=reopen))
    try:
        with sessions() as session:
            facts = session.get(ReportCaseRow, cid)
            assert facts is not None and facts.closed_on is None
            assert (
                session.scalars(select(ReportCaseItemRow).where(ReportCaseItemRow.case_id == cid)).all() == []
            )
        assert api.kpis()["groups"][0]["kpis"]["cases_closed"] == 4
    finally:
        again = f.step_fields(
            Step.CLOSED, at=DAY5 + timedelta(days=1, hours=3), sla=[platform_clock(1800, DAY5)],
            reason_codes=["inspection_timeout_auto_pass"], assigned_to="P-2",
        )  # fmt: skip
        with sessions.begin() as session:
            progress.apply_delta(session, f.delta(cid, 3, view=again))
    assert api.kpis()["groups"][0]["kpis"] == ALL | {"complaint_rate_per_1000_orders": None}


def test_each_groups_figures_link_to_the_cases_behind_them(api: Api) -> None:
    for group_by in ("merchant", "merchant,period:day", "issue_type,channel"):
        for group in api.kpis(group_by=group_by)["groups"]:
            listed: list[str] = []
            cursor = None
            path, _, query = group["cases"].partition("?")
            params = dict(pair.split("=", 1) for pair in query.split("&"))
            while True:
                page = api.get(path, limit=200, **params, **({"cursor": cursor} if cursor else {})).json()
                listed += [item["case_id"] for item in page["items"]]
                cursor = page["next_cursor"]
                if cursor is None:
                    break
            assert len(listed) == group["kpis"]["cases_closed"], (group_by, group["group"], group["cases"])
