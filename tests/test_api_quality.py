"""Quality review over the API (复核, DESIGN §9): the QC queue, the checklist as a table, and a
supervisor's scores, given once."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from sqlalchemy.orm import Session, sessionmaker

from domain.enums import Step
from domain.quality import QualityPolicy
from store import progress
from tests.store import factories as f
from tests.store.helpers import create
from tests.test_api_roles import headers

NOW = datetime.now(UTC) - timedelta(days=1)


def closed_unhappy(sessions: sessionmaker[Session]) -> str:
    """A case the workflow closed after a CSAT of 1: it goes to the QC queue whatever the sample."""
    cid, _ = create(sessions, f.case_request(merchant_id=f"M-QC-{uuid.uuid4().hex[:6]}"), at=NOW)
    survey = f.event(cid, 1, "survey_answered", step=Step.FOLLOW_UP, payload={"csat": 1, "nps": 0})
    delta = f.delta(cid, 1, [survey], view=f.step_fields(Step.CLOSED, at=NOW))
    with sessions.begin() as session:
        # No sample: the case id is random, and 1 in 20 would otherwise also be drawn as "sampled".
        progress.apply_delta(session, delta, QualityPolicy(share=0))
    return cid


async def pending(client: httpx.AsyncClient, key: str) -> list[str]:
    found: list[str] = []
    cursor = None
    while True:
        params = {"limit": 50, **({"cursor": cursor} if cursor else {})}
        page = (await client.get("/v1/quality/reviews", params=params, headers=headers(key))).json()
        found += [r["case_id"] for r in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            return found


async def test_a_supervisor_scores_an_unhappy_case_from_the_qc_queue_once(
    api_url: str, keys: dict[str, str], sessions: sessionmaker[Session]
) -> None:
    cid = closed_unhappy(sessions)
    async with httpx.AsyncClient(base_url=api_url, timeout=30) as client:
        assert cid in await pending(client, keys["supervisor"])
        for role in ("merchant", "agent", "dispute"):
            assert (await client.get("/v1/quality/reviews", headers=headers(keys[role]))).status_code == 403
        items = (await client.get("/v1/quality/checklist", headers=headers(keys["agent"]))).json()["items"]
        assert items, "the checklist is a table with items"
        full = {i["item_id"]: i["max_points"] for i in items}
        url = f"/v1/quality/reviews/{cid}/score"

        missing = dict(list(full.items())[1:])
        refused = await client.post(url, json={"scores": missing}, headers=headers(keys["supervisor"]))
        assert refused.status_code == 422 and items[0]["item_id"] in refused.json()["detail"]
        by_agent = await client.post(url, json={"scores": full}, headers=headers(keys["agent"]))
        assert by_agent.status_code == 403

        scored = await client.post(
            url, json={"scores": full, "comment": "well handled"}, headers=headers(keys["supervisor"])
        )
        assert scored.status_code == 200, scored.text
        body = scored.json()
        assert body["status"] == "scored" and body["total"] == body["max_total"] == sum(full.values())
        assert body["reasons"] == ["low_csat"] and body["reviewer"].startswith("supervisor:")
        again = await client.post(url, json={"scores": full}, headers=headers(keys["supervisor"]))
        assert again.status_code == 409
        assert cid not in await pending(client, keys["supervisor"])
        nowhere = await client.post(
            "/v1/quality/reviews/AS-NOWHERE/score", json={"scores": full}, headers=headers(keys["supervisor"])
        )
        assert nowhere.status_code == 404


@pytest.mark.parametrize(
    "items",
    [
        [],
        [{"item_id": "tone", "label": "Tone", "max_points": 0}],
        [
            {"item_id": "tone", "label": "Tone", "max_points": 5},
            {"item_id": "tone", "label": "Again", "max_points": 5},
        ],
        [{"item_id": "Tone!", "label": "Tone", "max_points": 5}],
        [{"item_id": "tone", "label": "Tone", "max_points": 5, "weight": 2}],
    ],
)
async def test_a_checklist_that_cannot_work_is_refused_with_422(
    api_url: str, keys: dict[str, str], items: list[dict[str, object]]
) -> None:
    async with httpx.AsyncClient(base_url=api_url, timeout=30) as client:
        before = (await client.get("/v1/quality/checklist", headers=headers(keys["supervisor"]))).json()
        refused = await client.put(
            "/v1/admin/quality/checklist", json={"items": items}, headers=headers(keys["supervisor"])
        )
        assert refused.status_code == 422, refused.text
        after = (await client.get("/v1/quality/checklist", headers=headers(keys["supervisor"]))).json()
        assert after == before


async def test_the_checklist_is_a_table_a_supervisor_edits(api_url: str, keys: dict[str, str]) -> None:
    async with httpx.AsyncClient(base_url=api_url, timeout=30) as client:
        before = (await client.get("/v1/quality/checklist", headers=headers(keys["supervisor"]))).json()
        edited = {
            "items": [*before["items"], {"item_id": "empathy", "label": "Showed empathy", "max_points": 5}]
        }
        put = await client.put(
            "/v1/admin/quality/checklist", json=edited, headers=headers(keys["supervisor"])
        )
        assert put.status_code == 200
        assert (await client.get("/v1/quality/checklist", headers=headers(keys["agent"]))).json() == edited
        assert (
            await client.put("/v1/admin/quality/checklist", json=before, headers=headers(keys["agent"]))
        ).status_code == 403
        restored = await client.put(
            "/v1/admin/quality/checklist", json=before, headers=headers(keys["supervisor"])
        )
        assert restored.status_code == 200
