"""Scorecards over the API (seed 003): an agent sees only their own, supervisors everyone's (also as
CSV); supervisors enter what the system cannot observe, with a reason, and can reverse it."""

from __future__ import annotations

import csv
import io
import uuid
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import httpx
from sqlalchemy.orm import Session, sessionmaker

from store import keys, people
from tests.test_api_roles import headers

MONTH = datetime.now(UTC).astimezone(ZoneInfo("Asia/Shanghai")).strftime("%Y-%m")


def agent(sessions: sessionmaker[Session], name: str) -> tuple[str, str]:
    person_id = f"P-sc-{name}-{uuid.uuid4().hex[:6]}"
    with sessions.begin() as session:
        people.create_person(session, name, "agent", ["*"], person_id)
        return person_id, keys.create_api_key(session, "agent", label=name, person_id=person_id)[1]


async def test_a_supervisor_enters_and_reverses_and_each_agent_sees_only_their_own(
    api_url: str, keys: dict[str, str], sessions: sessionmaker[Session]
) -> None:
    ana, ana_key = agent(sessions, "ana")
    bo, bo_key = agent(sessions, "bo")
    async with httpx.AsyncClient(base_url=api_url, timeout=30) as client:
        sup = headers(keys["supervisor"])
        entry = await client.post(
            "/v1/reports/scorecards/entries",
            json={"person_id": ana, "code": "misquote", "reason": "quoted last year's price"},
            headers=sup,
        )
        assert entry.status_code == 201, entry.text
        other = {"person_id": bo, "code": "report_leak", "reason": "sent the daily report to a friend"}
        assert (
            await client.post("/v1/reports/scorecards/entries", json=other, headers=sup)
        ).status_code == 201

        mine = (
            await client.get("/v1/reports/scorecards", params={"month": MONTH}, headers=headers(ana_key))
        ).json()
        assert [c["person_id"] for c in mine["items"]] == [ana] and mine["items"][0]["total"] == "-5.00"
        assert mine["items"][0]["violations"][0]["note"] == "quoted last year's price"
        peek = await client.get("/v1/reports/scorecards", params={"person_id": bo}, headers=headers(ana_key))
        assert peek.status_code == 403
        team = (await client.get("/v1/reports/scorecards", params={"month": MONTH}, headers=sup)).json()
        assert {ana, bo} <= {c["person_id"] for c in team["items"]}
        as_csv = await client.get(
            "/v1/reports/scorecards", params={"month": MONTH}, headers={**sup, "Accept": "text/csv"}
        )
        rows = list(csv.DictReader(io.StringIO(as_csv.text)))
        assert as_csv.headers["content-type"].startswith("text/csv")
        assert {(r["person_id"], r["code"]) for r in rows} >= {(ana, "misquote"), (bo, "report_leak")}

        reversed_ = await client.post(
            f"/v1/reports/scorecards/entries/{entry.json()['entry_id']}/reverse",
            json={"reason": "price was right"},
            headers=sup,
        )
        assert reversed_.status_code == 200 and reversed_.json()["reversed_by"].startswith("supervisor:")
        again = (
            await client.get("/v1/reports/scorecards", params={"month": MONTH}, headers=headers(ana_key))
        ).json()
        assert again["items"] == []
        assert (
            await client.get("/v1/reports/scorecards", headers=headers(keys["merchant"]))
        ).status_code == 403
        assert (await client.get("/v1/reports/scorecards", headers=headers(bo_key))).status_code == 200


async def test_bad_scorecard_input_is_refused_with_422_naming_the_field(
    api_url: str, keys: dict[str, str], sessions: sessionmaker[Session]
) -> None:
    ana, _ = agent(sessions, "cy")
    sup = headers(keys["supervisor"])
    async with httpx.AsyncClient(base_url=api_url, timeout=30) as client:
        bad_month = await client.get("/v1/reports/scorecards", params={"month": "2026-13"}, headers=sup)
        assert bad_month.status_code == 422 and "month" in bad_month.json()["detail"]
        for body, field in [
            ({"person_id": ana, "code": "callback_late", "reason": "x"}, "code"),  # the system scores it
            ({"person_id": ana, "code": "sleeping", "reason": "x"}, "code"),
            ({"person_id": "P-nobody", "code": "misquote", "reason": "x"}, "person_id"),
        ]:
            refused = await client.post("/v1/reports/scorecards/entries", json=body, headers=sup)
            assert refused.status_code == 422 and refused.json()["detail"].startswith(field), refused.text
        rules = (await client.get("/v1/reports/scorecard-rules", headers=sup)).json()
        assert rules["version"] >= 1 and any(
            r["code"] == "callback_late" and r["doubles_after"] == 3 for r in rules["rules"]
        )
        dropped = {"rules": [r for r in rules["rules"] if r["code"] != "bad_review"]}
        refused = await client.put("/v1/admin/scorecard-rules", json=dropped, headers=sup)
        assert refused.status_code == 422 and "bad_review" in refused.json()["detail"]
        relabelled = [
            {**r, "label": r["label"] + " (v2)"} if r["code"] == "misquote" else r for r in rules["rules"]
        ]
        newer = await client.put("/v1/admin/scorecard-rules", json={"rules": relabelled}, headers=sup)
        assert newer.status_code == 200 and newer.json()["version"] == rules["version"] + 1
        assert (await client.get("/v1/reports/scorecard-rules", headers=sup)).json()["version"] == rules[
            "version"
        ] + 1
        assert (
            await client.post(
                "/v1/reports/scorecards/entries/999999/reverse", json={"reason": "x"}, headers=sup
            )
        ).status_code == 404
