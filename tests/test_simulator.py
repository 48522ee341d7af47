"""The provider simulator over real HTTP, through the client the activities use."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import httpx
import pytest

from activities.provider_client import ProviderClient, ProviderRejected, ProviderTimeout, ProviderUnavailable
from domain.money import Money
from simulator.app import FaultConfig, create_app
from tests.support.servers import run_uvicorn

AMOUNT = Money(amount=Decimal("129.00"))


@pytest.fixture(scope="module")
def sim(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    path: Path = tmp_path_factory.mktemp("sim") / "ledger.db"
    with run_uvicorn(create_app(str(path), FaultConfig(seed=7))) as url:
        yield url


@pytest.fixture
def client(sim: str) -> Iterator[ProviderClient]:
    httpx.put(f"{sim}/v1/admin/faults", json={}).raise_for_status()
    with ProviderClient(sim, timeout_seconds=2) as provider:
        yield provider
    httpx.put(f"{sim}/v1/admin/faults", json={}).raise_for_status()


def faults(sim: str, **config: object) -> None:
    httpx.put(f"{sim}/v1/admin/faults", json=config).raise_for_status()


def test_the_same_key_refunds_once_and_answers_the_same(client: ProviderClient, sim: str) -> None:
    first = client.refund("c1-refund-1", "c1", "O-1", AMOUNT, "alipay")
    again = client.refund("c1-refund-1", "c1", "O-1", AMOUNT, "alipay")
    assert first.refund_id == again.refund_id and again.replayed and not first.replayed
    entries = httpx.get(f"{sim}/v1/ledger", params={"case_id": "c1", "kind": "refund"}).json()["entries"]
    assert len(entries) == 1 and entries[0]["attempts"] == 2


def test_the_same_key_with_another_amount_is_rejected(client: ProviderClient) -> None:
    client.refund("c2-refund-1", "c2", "O-2", AMOUNT, "alipay")
    with pytest.raises(ProviderRejected) as rejected:
        client.refund("c2-refund-1", "c2", "O-2", Money(amount=Decimal("1.00")), "alipay")
    assert rejected.value.status == 409


def test_an_unknown_refund_is_not_found(client: ProviderClient) -> None:
    assert client.get_refund("never-paid") is None


def test_injected_errors_do_nothing(client: ProviderClient, sim: str) -> None:
    faults(sim, error_rate=1.0)
    with pytest.raises(ProviderUnavailable):
        client.refund("c3-refund-1", "c3", "O-3", AMOUNT, "alipay")
    faults(sim)
    assert client.get_refund("c3-refund-1") is None


def test_a_late_answer_is_unclear_and_resolved_by_asking(sim: str) -> None:
    faults(sim, timeout_rate=1.0, timeout_sleep_seconds=2)
    with ProviderClient(sim, timeout_seconds=0.5) as impatient, pytest.raises(ProviderTimeout):
        impatient.refund("c4-refund-1", "c4", "O-4", AMOUNT, "alipay")
    faults(sim)
    with ProviderClient(sim) as client:
        found = client.get_refund("c4-refund-1")
    assert found is not None and found.amount == AMOUNT


def test_latency_is_added(client: ProviderClient, sim: str) -> None:
    faults(sim, latency_ms=300)
    response = httpx.post(
        f"{sim}/v1/notifications",
        json={"case_id": "c5", "recipient_role": "customer", "template": "t", "message": "m"},
        headers={"Idempotency-Key": "c5-n-1"},
    )
    assert response.status_code == 201 and response.elapsed.total_seconds() >= 0.3


def test_bad_requests_get_problem_documents(sim: str) -> None:
    no_key = httpx.post(
        f"{sim}/v1/refunds",
        json={"case_id": "c", "order_id": "o", "amount": {"amount": "1.00"}, "payment_method": "x"},
    )
    bad_body = httpx.post(f"{sim}/v1/refunds", json={"amount": 1.5}, headers={"Idempotency-Key": "k"})
    assert no_key.status_code == 400 and bad_body.status_code == 422
    for response in (no_key, bad_body):
        assert response.headers["content-type"].startswith("application/problem+json")


def test_the_summary_counts_refunds_per_case(client: ProviderClient, sim: str) -> None:
    client.refund("c6-refund-1", "c6", "O-6", AMOUNT, "alipay")
    client.refund("c6-refund-2", "c6", "O-6", Money(amount=Decimal("5.00")), "alipay")
    summary = httpx.get(f"{sim}/v1/ledger/summary").json()["refunds_by_case"]
    assert summary["c6"]["refunds"] == 2
