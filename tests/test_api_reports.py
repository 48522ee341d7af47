"""`/v1/reports/kpis` reads the audit trail through the typed payload models: surveys in the older
form (comment at the top level) and the newer one (comment under a sealed `private`) both count."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import httpx
from sqlalchemy.orm import Session, sessionmaker

from domain.enums import Step
from store import keys, progress
from tests.store import factories as f
from tests.store.helpers import create

NOW = datetime.now(UTC) - timedelta(days=1)


def closed_with_survey(
    sessions: sessionmaker[Session], merchant: str, csat: int, nps: int, older: bool
) -> str:
    """A case stored as a workflow would have left it: closed, its survey answered."""
    cid, _ = create(sessions, f.case_request(merchant_id=merchant), at=NOW)
    comment = {"comment": "快"} if older else {"private": {"comment": "快"}}
    survey = f.event(
        cid, 1, "survey_answered", step=Step.FOLLOW_UP, payload={"csat": csat, "nps": nps, **comment}
    )
    closing = f.step_fields(Step.CLOSED, at=NOW + timedelta(hours=6))
    with sessions.begin() as session:
        progress.apply_delta(session, f.delta(cid, 1, [survey], view=closing))
    return cid


async def test_kpis_count_surveys_stored_in_either_form_for_the_merchant_only(
    api_url: str, sessions: sessionmaker[Session]
) -> None:
    merchant = f"M-KPI-{uuid.uuid4().hex[:8]}"
    closed_with_survey(sessions, merchant, csat=5, nps=10, older=False)
    closed_with_survey(sessions, merchant, csat=3, nps=4, older=True)
    with sessions.begin() as session:
        _, key = keys.create_api_key(session, "merchant", merchant, "kpi test")
    async with httpx.AsyncClient(base_url=api_url, timeout=30) as client:
        response = await client.get("/v1/reports/kpis", headers={"Authorization": f"Bearer {key}"})
    assert response.status_code == 200, response.text
    kpis = response.json()
    assert (kpis["cases"], kpis["by_status"], kpis["closed_by_reason"]) == (2, {"closed": 2}, {"resolved": 2})
    assert (kpis["surveys"], kpis["csat_average"], kpis["nps"]) == (2, 4.0, 0.0)
    assert kpis["average_handling_hours"] == 6.0
