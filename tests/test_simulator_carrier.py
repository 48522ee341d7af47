"""The simulator plays the carrier (DESIGN §13): a scan is sent to the API's webhook signed with the
carrier's secret; a lost parcel is never scanned again; a carrier claim is opened once per key."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI, Request

from activities.provider_client import ProviderClient
from domain.carriers import SIGNATURE_HEADER, signature_ok
from simulator.app import create_app
from simulator.carrier import CarrierConfig
from tests.support.servers import run_uvicorn

SECRET = "carrier-secret-for-the-simulator-tests"


@pytest.fixture(scope="module")
def webhook() -> Iterator[tuple[str, list[dict[str, Any]]]]:
    """Stands in for the API's carrier webhook: keeps what arrives and whether its signature holds."""
    received: list[dict[str, Any]] = []
    app = FastAPI()

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.post("/v1/carrier-events", status_code=202)
    async def events(request: Request) -> dict[str, Any]:
        raw = await request.body()
        signed = signature_ok(SECRET, raw, request.headers.get(SIGNATURE_HEADER))
        body = await request.json()
        received.append({"carrier": body.get("carrier"), "signed": signed, "body": body})
        return {"outcome": "signalled" if signed else "refused"}

    with run_uvicorn(app) as url:
        yield url, received


@pytest.fixture(scope="module")
def sim(webhook: tuple[str, list[dict[str, Any]]], tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    db = str(Path(tmp_path_factory.mktemp("simcarrier")) / "ledger.db")
    carrier = CarrierConfig(target=webhook[0], secrets={"sim": SECRET})
    with run_uvicorn(create_app(db, carrier=carrier)) as url:
        yield url


def test_a_scan_reaches_the_webhook_signed_and_a_lost_parcel_is_scanned_no_more(
    sim: str, webhook: tuple[str, list[dict[str, Any]]]
) -> None:
    _, received = webhook
    sent = httpx.post(f"{sim}/v1/carrier/scans", json={"tracking_no": "SIM-1", "kind": "pickup"})
    assert sent.status_code == 200, sent.text
    assert sent.json()["status"] == 202 and sent.json()["answer"] == {"outcome": "signalled"}
    assert received[-1]["signed"] and received[-1]["carrier"] == "sim"
    assert (
        received[-1]["body"]["kind"] == "pickup"
        and received[-1]["body"]["event_id"] == sent.json()["event_id"]
    )

    assert httpx.post(f"{sim}/v1/carrier/parcels/SIM-1/lose").json() == {"tracking_no": "SIM-1", "lost": True}
    lost = httpx.post(f"{sim}/v1/carrier/scans", json={"tracking_no": "SIM-1", "kind": "in_transit"})
    assert lost.status_code == 409 and len(received) == 1
    unknown = httpx.post(
        f"{sim}/v1/carrier/scans", json={"tracking_no": "SIM-2", "kind": "pickup", "carrier": "jd"}
    )
    assert unknown.status_code == 422


def test_a_carrier_claim_is_opened_once_per_key(sim: str) -> None:
    with ProviderClient(sim, timeout_seconds=5) as client:
        first = client.open_carrier_claim("case-1-carrier-claim-1", "case-1", "SIM-9")
        again = client.open_carrier_claim("case-1-carrier-claim-1", "case-1", "SIM-9")
    assert first.id == again.id and again.replayed
    ledger = httpx.get(f"{sim}/v1/ledger", params={"case_id": "case-1", "kind": "carrier_claim"}).json()
    assert len(ledger["entries"]) == 1 and ledger["entries"][0]["record"]["status"] == "opened"
