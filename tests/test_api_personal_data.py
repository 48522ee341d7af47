"""The API reads sealed personal data back for the roles that see it (audit item 14)."""

from __future__ import annotations

from typing import Any

import httpx
from sqlalchemy import text
from sqlalchemy.orm import Session, sessionmaker

from tests.support.waiting import eventually
from tests.test_api_roles import headers, open_case

NOTE = "客户来电 138 0000 0000"


async def events_of(client: httpx.AsyncClient, case_id: str, key: str) -> list[dict[str, Any]]:
    response = await client.get(f"/v1/cases/{case_id}/events", headers=headers(key))
    assert response.status_code == 200, response.text
    return list(response.json()["events"])


async def test_a_sealed_note_is_shown_to_agents_and_masked_for_merchants_and_ops(
    api_url: str, keys: dict[str, str]
) -> None:
    case_id = await open_case(api_url, keys["system"])
    async with httpx.AsyncClient(base_url=api_url, timeout=30) as client:
        added = await client.post(
            f"/v1/cases/{case_id}/notes",
            json={"text": NOTE, "visibility": "internal"},
            headers=headers(keys["agent"]),
        )
        assert added.status_code == 200, added.text

        async def notes_seen_by_the_agent() -> list[dict[str, Any]]:
            return [e for e in await events_of(client, case_id, keys["agent"]) if e["kind"] == "note"]

        # The workflow writes the event in its next store write.
        notes = await eventually(notes_seen_by_the_agent, bool, "the note in the events")
        assert notes and notes[0]["payload"]["private"]["text"] == NOTE
        for role in ("merchant", "ops"):
            [hidden] = [e for e in await events_of(client, case_id, keys[role]) if e["kind"] == "note"]
            assert NOTE not in str(hidden) and hidden["hash"] == notes[0]["hash"]
            assert hidden["payload"] == {"visibility": "internal", "redacted": True}


async def test_a_case_sealed_with_a_key_the_api_lacks_answers_503_not_500(
    api_url: str, keys: dict[str, str], sessions: sessionmaker[Session]
) -> None:
    case_id = await open_case(api_url, keys["system"])
    with sessions.begin() as session:  # as if the wrapping key had been removed too early
        wrapped_by = session.execute(
            text("SELECT key_id FROM case_data_keys WHERE case_id = :c"), {"c": case_id}
        ).scalar_one()
        session.execute(
            text("UPDATE case_data_keys SET key_id = 'retired-1' WHERE case_id = :c"), {"c": case_id}
        )
    try:
        async with httpx.AsyncClient(base_url=api_url) as client:
            response = await client.get(f"/v1/cases/{case_id}", headers=headers(keys["agent"]))
    finally:
        with sessions.begin() as session:
            session.execute(
                text("UPDATE case_data_keys SET key_id = :k WHERE case_id = :c"),
                {"k": wrapped_by, "c": case_id},
            )
    assert response.status_code == 503
    assert response.headers["content-type"].startswith("application/problem+json")
    assert "retired-1" in response.json()["detail"]
