"""The provider simulator over real HTTP, through the client the activities use."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest

import simulator.app as simulator_app
from activities.provider_client import ProviderClient, ProviderRejected, ProviderTimeout, ProviderUnavailable
from core.settings import get_settings
from domain.money import Money
from simulator.app import FaultConfig, create_app
from simulator.ledger import Ledger, LedgerConflict
from tests.support.servers import free_port, run_uvicorn
from tests.support.waiting import eventually_sync

AMOUNT = Money(amount=Decimal("129.00"))
ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def sim(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    path = tmp_path_factory.mktemp("sim") / "ledger.db"
    with run_uvicorn(create_app(str(path), FaultConfig(seed=7))) as url:
        yield url


@pytest.fixture(scope="module")
def http(sim: str) -> Iterator[httpx.Client]:
    """Raw HTTP to the simulator; one client, since making one costs ~0.1 s (TLS context)."""
    with httpx.Client(base_url=sim, trust_env=False) as raw:
        yield raw


@pytest.fixture(autouse=True)
def no_faults(request: pytest.FixtureRequest) -> Iterator[None]:
    if "sim" not in request.fixturenames:
        yield
        return
    http = request.getfixturevalue("http")
    faults(http)
    yield
    faults(http)


@pytest.fixture(scope="module")
def client(sim: str) -> Iterator[ProviderClient]:
    with ProviderClient(sim, timeout_seconds=2) as provider:
        yield provider


@pytest.fixture
def case() -> str:
    return f"C-{uuid.uuid4().hex[:10]}"


def faults(http: httpx.Client, **config: object) -> dict[str, Any]:
    response = http.put("/v1/admin/faults", json=config)
    response.raise_for_status()
    return dict(response.json())


def ledger(http: httpx.Client, case_id: str, kind: str | None = None) -> list[dict[str, Any]]:
    params = {"case_id": case_id} | ({"kind": kind} if kind else {})
    return list(http.get("/v1/ledger", params=params).json()["entries"])


def assert_problem(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body = dict(response.json())
    assert {"type", "title", "status", "detail"} <= set(body) and body["status"] == status
    return body


def refund_body(case_id: str, amount: str = "129.00") -> dict[str, Any]:
    return {"case_id": case_id, "order_id": "O-1", "amount": {"amount": amount}, "payment_method": "alipay"}


# Idempotency


def test_the_same_key_refunds_once_and_answers_the_same(
    client: ProviderClient, http: httpx.Client, case: str
) -> None:
    first = client.refund(f"{case}-refund-1", case, "O-1", AMOUNT, "alipay")
    again = client.refund(f"{case}-refund-1", case, "O-1", AMOUNT, "alipay")
    assert first.refund_id == again.refund_id and first.created_at == again.created_at
    assert (first.replayed, again.replayed) == (False, True)
    assert first.status == "succeeded" and first.amount == AMOUNT and first.case_id == case
    [entry] = ledger(http, case, "refund")
    assert entry["attempts"] == 2 and entry["record"]["refund_id"] == first.refund_id


def test_a_replay_answers_200_with_the_same_body(http: httpx.Client, case: str) -> None:
    headers = {"Idempotency-Key": f"{case}-r", "X-Request-Id": "req-1"}
    first = http.post("/v1/refunds", json=refund_body(case, "129"), headers=headers)
    again = http.post("/v1/refunds", json=refund_body(case, "129.00"), headers=headers)
    assert (first.status_code, again.status_code) == (201, 200)
    assert first.headers["X-Request-Id"] == "req-1"
    assert {**first.json(), "replayed": True} == again.json()
    assert set(first.json()) >= {"refund_id", "status", "amount", "case_id", "idempotency_key", "created_at"}


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"amount": Money(amount=Decimal("1.00"))}, "amount"),
        ({"amount": Money(amount=Decimal("129.00"), currency="USD")}, "currency"),
        ({"case_id": "another-case"}, "case_id"),
    ],
)
def test_the_same_key_with_another_request_is_rejected(
    client: ProviderClient, case: str, change: dict[str, Any], field: str
) -> None:
    request: dict[str, Any] = {
        "case_id": case,
        "order_id": "O-2",
        "amount": AMOUNT,
        "payment_method": "alipay",
    }
    client.refund(f"{case}-refund-1", **request)
    with pytest.raises(ProviderRejected) as rejected:
        client.refund(f"{case}-refund-1", **(request | change))
    assert rejected.value.status == 409 and field in rejected.value.detail


def test_a_key_used_for_a_refund_cannot_ship_goods(client: ProviderClient, case: str) -> None:
    client.refund(f"{case}-k", case, "O-1", AMOUNT, "alipay")
    with pytest.raises(ProviderRejected) as rejected:
        client.create_shipment(f"{case}-k", case, "replacement")
    assert rejected.value.status == 409 and "kind" in rejected.value.detail


def test_an_unknown_refund_is_not_found(client: ProviderClient, http: httpx.Client) -> None:
    assert client.get_refund("never-paid") is None
    assert_problem(http.get("/v1/refunds/never-paid"), 404)


def test_any_key_can_be_looked_up(client: ProviderClient, case: str) -> None:
    key = f"{case}/refund 1?x=%"
    made = client.refund(key, case, "O-1", AMOUNT, "alipay")
    found = client.get_refund(key)
    assert found is not None and found.refund_id == made.refund_id and found.idempotency_key == key


def test_the_other_operations_are_idempotent_too(
    client: ProviderClient, http: httpx.Client, case: str
) -> None:
    label = client.create_return_label(f"{case}-label", case, "merchant")
    shipment = client.create_shipment(f"{case}-ship", case, "resend", sku="SKU-1")
    credit = client.issue_credit(f"{case}-credit", case, "coupon", Money(amount=Decimal("20.00")))
    note = client.notify(f"{case}-note", case, "customer", "refund_done", "Your refund is on its way")
    assert label.tracking_no.startswith("SIM") and label.carrier and label.payer == "merchant"
    assert shipment.tracking_no and shipment.kind == "resend" and shipment.sku == "SKU-1"
    assert credit.amount == Money(amount=Decimal("20.00")) and credit.kind == "coupon"
    assert note.id and not note.replayed
    again = client.create_shipment(f"{case}-ship", case, "resend", sku="SKU-1")
    assert (again.id, again.tracking_no, again.replayed) == (shipment.id, shipment.tracking_no, True)
    kinds = [entry["kind"] for entry in ledger(http, case)]
    assert kinds == ["return_label", "shipment", "credit", "notification"]
    with pytest.raises(ProviderRejected):
        client.issue_credit(f"{case}-credit", case, "balance", Money(amount=Decimal("20.00")))


# Faults


def test_injected_errors_do_nothing(client: ProviderClient, http: httpx.Client, case: str) -> None:
    faults(http, error_rate=1.0)
    with pytest.raises(ProviderUnavailable) as unavailable:
        client.refund(f"{case}-refund-1", case, "O-3", AMOUNT, "alipay")
    assert unavailable.value.status == 503
    with pytest.raises(ProviderUnavailable):
        client.notify(f"{case}-note", case, "customer", "t", "m")
    assert client.get_refund(f"{case}-refund-1") is None  # lookups are never faulted
    assert ledger(http, case) == []
    faults(http)
    client.refund(f"{case}-refund-1", case, "O-3", AMOUNT, "alipay")
    assert [entry["attempts"] for entry in ledger(http, case)] == [1]


def test_a_late_answer_is_unclear_and_resolved_by_asking(
    client: ProviderClient, sim: str, http: httpx.Client, case: str
) -> None:
    faults(http, timeout_rate=1.0, timeout_sleep_seconds=5)
    with ProviderClient(sim, timeout_seconds=0.5) as impatient, pytest.raises(ProviderTimeout):
        impatient.refund(f"{case}-refund-1", case, "O-4", AMOUNT, "alipay")
    faults(http)
    started = time.monotonic()
    found = client.get_refund(f"{case}-refund-1")
    # The late answer sleeps 4.5 s more: blocked behind it, the lookup would take that long.
    assert time.monotonic() - started < 3.0  # the late answer still sleeping blocks nobody
    assert found is not None and found.amount == AMOUNT
    again = client.refund(f"{case}-refund-1", case, "O-4", AMOUNT, "alipay")
    assert again.replayed and again.refund_id == found.refund_id
    assert [entry["attempts"] for entry in ledger(http, case, "refund")] == [2]


def test_latency_is_added_to_provider_calls_only(http: httpx.Client, case: str) -> None:
    faults(http, latency_ms=1000)
    response = http.post(
        "/v1/notifications",
        json={"case_id": case, "recipient_role": "customer", "template": "t", "message": "m"},
        headers={"Idempotency-Key": f"{case}-n-1"},
    )
    assert response.status_code == 201 and response.elapsed.total_seconds() >= 1.0
    assert http.get("/healthz").elapsed.total_seconds() < 1.0  # margins wide for a loaded machine


def test_slow_answers_do_not_block_each_other(client: ProviderClient, http: httpx.Client, case: str) -> None:
    faults(http, latency_ms=1000)
    started = time.monotonic()
    with ThreadPoolExecutor(8) as pool:
        results = list(
            pool.map(lambda i: client.notify(f"{case}-n-{i}", case, "customer", "t", "m"), range(8))
        )
    assert len({result.id for result in results}) == 8
    # Eight one-second answers: 8 s one after another, ~1 s at once (bound wide for a loaded machine).
    assert time.monotonic() - started < 5.0


def test_seeded_faults_are_reproducible(client: ProviderClient, http: httpx.Client, case: str) -> None:
    def outcomes(run: int) -> list[bool]:
        faults(http, error_rate=0.5, seed=42)
        seen = []
        for i in range(12):
            try:
                client.notify(f"{case}-{run}-{i}", case, "customer", "t", "m")
                seen.append(True)
            except ProviderUnavailable:
                seen.append(False)
        return seen

    first = outcomes(1)
    assert first == outcomes(2) and True in first and False in first


def test_faults_can_be_changed_at_run_time(http: httpx.Client) -> None:
    assert http.get("/v1/admin/faults").json()["error_rate"] == 0
    changed = faults(http, error_rate=0.25, timeout_rate=0.1, latency_ms=5)
    assert http.get("/v1/admin/faults").json() == changed
    assert (changed["error_rate"], changed["timeout_rate"], changed["latency_ms"]) == (0.25, 0.1, 5)
    assert changed["timeout_sleep_seconds"] == 30
    assert_problem(http.put("/v1/admin/faults", json={"error_rate": 2}), 422)
    assert_problem(http.put("/v1/admin/faults", json={"error": 1}), 422)


def test_an_unreachable_provider_is_unavailable(case: str) -> None:
    with ProviderClient(f"http://127.0.0.1:{free_port()}", timeout_seconds=1) as client:
        with pytest.raises(ProviderUnavailable):
            client.refund(f"{case}-r", case, "O-1", AMOUNT, "alipay")
        with pytest.raises(ProviderUnavailable):
            client.get_refund(f"{case}-r")


# Bad requests


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/v1/refunds", {"amount": 1.5}),
        ("/v1/refunds", {**refund_body("c"), "amount": {"amount": 1.5}}),  # floats cannot carry cents
        ("/v1/refunds", {**refund_body("c"), "amount": {"amount": "-1.00"}}),
        ("/v1/refunds", {**refund_body("c"), "amount": {"amount": "0"}}),
        ("/v1/refunds", {**refund_body("c"), "amount": {"amount": "1.001"}}),
        ("/v1/refunds", {**refund_body("c"), "amount": {"amount": "1", "currency": "XXX"}}),
        ("/v1/refunds", {**refund_body("c"), "admin": True}),
        ("/v1/refunds", {**refund_body("c"), "case_id": ""}),
        ("/v1/refunds", ["not", "an", "object"]),
        ("/v1/return-labels", {"case_id": "c", "payer": "nobody"}),
        ("/v1/shipments", {"case_id": "c", "kind": "teleport"}),
        ("/v1/credits", {"case_id": "c", "kind": "coupon", "amount": "20"}),
        ("/v1/notifications", {"case_id": "c", "recipient_role": "customer"}),
    ],
)
def test_bad_bodies_get_422_problems(http: httpx.Client, path: str, body: object) -> None:
    response = http.post(path, json=body, headers={"Idempotency-Key": f"bad-{uuid.uuid4()}"})
    problem = assert_problem(response, 422)
    assert problem["errors"] and all({"loc", "msg"} <= set(error) for error in problem["errors"])


def test_unreadable_json_gets_a_422_problem(http: httpx.Client) -> None:
    response = http.post(
        "/v1/refunds",
        content=b"{not json",
        headers={"Idempotency-Key": "k", "Content-Type": "application/json"},
    )
    assert_problem(response, 422)


@pytest.mark.parametrize("headers", [{}, {"Idempotency-Key": ""}])
def test_a_provider_call_without_an_idempotency_key_is_refused(
    http: httpx.Client, case: str, headers: dict[str, str]
) -> None:
    response = http.post("/v1/refunds", json=refund_body(case), headers=headers)
    assert "Idempotency-Key" in assert_problem(response, 400)["detail"]
    assert ledger(http, case) == []


def test_unknown_routes_and_methods_get_problems(http: httpx.Client) -> None:
    assert_problem(http.get("/v1/nothing-here"), 404)
    assert_problem(http.delete("/v1/refunds"), 405)
    assert_problem(http.get("/v1/ledger", params={"kind": "bribe"}), 422)


# The ledger


def test_the_summary_counts_and_totals_refunds_per_case(
    client: ProviderClient, http: httpx.Client, case: str
) -> None:
    client.refund(f"{case}-refund-1", case, "O-6", AMOUNT, "alipay")
    client.refund(f"{case}-refund-1", case, "O-6", AMOUNT, "alipay")  # a replay pays nothing
    client.refund(f"{case}-refund-2", case, "O-6", Money(amount=Decimal("5.50")), "alipay")
    client.refund(f"{case}-refund-3", case, "O-6", Money(amount=Decimal("3.00"), currency="USD"), "card")
    summary = http.get("/v1/ledger/summary").json()["refunds_by_case"][case]
    assert summary == {
        "refunds": 3,
        "totals": [{"amount": "134.50", "currency": "CNY"}, {"amount": "3.00", "currency": "USD"}],
    }


def test_the_ledger_is_thread_safe_and_counts_attempts() -> None:
    ledger = Ledger(":memory:")
    fields = {"order_id": "O", "amount": AMOUNT, "payment_method": "alipay"}
    barrier = threading.Barrier(16)

    def call(_: int) -> str:
        barrier.wait()
        return str(ledger.record("refund", "k-1", "C-1", fields).result["refund_id"])

    with ThreadPoolExecutor(16) as pool:
        ids = set(pool.map(call, range(16)))
    assert len(ids) == 1 and ledger.refund_count("C-1") == 1 and ledger.refund_counts() == {"C-1": 1}
    [entry] = ledger.entries(case_id="C-1", kind="refund")
    assert entry["attempts"] == 16
    with pytest.raises(LedgerConflict):
        ledger.record("refund", "k-1", "C-1", fields | {"payment_method": "card"})
    assert ledger.get_refund("k-1") is not None and ledger.get_refund("k-2") is None
    ledger.close()


# Running it


def test_the_module_app_is_built_from_settings_on_first_use(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AFTERSALES_LOCAL_DIR", str(tmp_path))
    monkeypatch.setenv("AFTERSALES_SIMULATOR_LATENCY_MS", "7")
    monkeypatch.setattr(simulator_app, "_app", None)
    get_settings.cache_clear()
    try:
        app = simulator_app.app
        assert app is simulator_app.app and app.state.faults.config.latency_ms == 7
        assert (tmp_path / "simulator.db").exists()
        app.state.ledger.close()
    finally:
        get_settings.cache_clear()


@pytest.mark.slow  # starts the simulator as a process
def test_python_m_simulator_serves_on_the_configured_port(tmp_path: Path) -> None:
    port = free_port()
    env = {
        **os.environ,
        "AFTERSALES_LOCAL_DIR": str(tmp_path),
        "AFTERSALES_SIMULATOR_PORT": str(port),
        "AFTERSALES_LOG_JSON": "false",
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "simulator"], cwd=ROOT, env=env, stderr=subprocess.PIPE, text=True
    )
    try:

        def healthy() -> bool:
            try:
                return httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=0.5).status_code == 200
            except httpx.HTTPError:
                return False

        eventually_sync(healthy, bool, "python -m simulator answering /healthz")
    finally:
        process.terminate()
        _, stderr = process.communicate(timeout=10)
    assert f"provider simulator on http://127.0.0.1:{port}" in stderr
