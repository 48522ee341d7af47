"""Issue 19 over HTTP: policy versions and the policy in force with provenance, the case input
carrying it; the carrier webhook and every bad input; approval delegations. The API runs on its own
store with a gateway that records what it would start and signal (no Temporal)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, cast

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker
from temporalio.client import Client

from api.app import create_app
from core.settings import Settings
from domain.carriers import SIGNATURE_HEADER, CarrierScan, sign
from domain.enums import Action
from domain.models import ActionEnvelope, CaseInput, CaseView
from store import carriers, cases
from store.db import make_engine, make_session_factory
from store.keys import create_api_key
from store.migrate import upgrade
from store.models import CarrierEventRow
from tests.support.databases import scratch_database
from tests.support.keys import vault_for_tests
from tests.test_api_routing import case_body

ROLES = ("system", "agent", "supervisor", "manager", "merchant", "ops")
SECRET = "s3cret-for-the-sim-carrier-0123456789"
POLICIES = "/v1/admin/policies"


class RecordingGateway:
    """Stands in for Temporal: keeps what the API would start, signal and send."""

    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self.sessions = sessions
        self.started: dict[str, CaseInput] = {}
        self.signals: list[tuple[str, str, Any]] = []
        self.acts: list[ActionEnvelope] = []
        self.ended: set[str] = set()

    async def start_case(self, inp: CaseInput) -> None:
        self.started[inp.case_id] = inp

    async def signal_case(self, case_id: str, signal: str, arg: object) -> bool:
        if case_id in self.ended:
            return False
        self.signals.append((case_id, signal, arg))
        return True

    async def act(
        self, case_id: str, action: Action, envelope: ActionEnvelope, update_id: str | None
    ) -> CaseView:
        self.acts.append(envelope)
        with self.sessions() as session:
            row = cases.get_case(session, case_id)
            assert row is not None
            return CaseView.model_validate(row.view)


class Api:
    def __init__(self, client: TestClient, keys: dict[str, str], gateway: RecordingGateway) -> None:
        self.client, self.keys, self.gateway = client, keys, gateway
        self.sessions: sessionmaker[Session] = client.app.state.ctx.sessions  # type: ignore[attr-defined]

    def as_(self, role: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.keys.get(role, role)}"}

    def post(self, path: str, body: dict[str, Any], role: str = "supervisor") -> httpx.Response:
        return self.client.post(path, json=body, headers=self.as_(role))

    def get(self, path: str, role: str = "agent", **params: Any) -> httpx.Response:
        return self.client.get(path, headers=self.as_(role), params=params)

    def carrier_event(
        self, body: dict[str, Any], carrier: str = "sim", secret: str = SECRET
    ) -> httpx.Response:
        """DESIGN §13's webhook: the carrier named in the signed body."""
        raw = json.dumps({**body, "carrier": carrier}).encode()
        headers = {"Content-Type": "application/json", SIGNATURE_HEADER: sign(secret, raw)}
        return self.client.post("/v1/carrier-events", content=raw, headers=headers)


@pytest.fixture(scope="module")
def api(settings: Settings, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    tmp = tmp_path_factory.mktemp("policies")
    secrets_file = tmp / "carrier-secrets"
    secrets_file.write_text(f"sim:{SECRET}\n")
    with scratch_database(tmp, "aftersales_policies") as url:
        upgrade(url)
        engine = make_engine(url)
        keys: dict[str, str] = {}
        with make_session_factory(engine, vault_for_tests()).begin() as session:
            for role in ROLES:
                keys[role] = create_api_key(session, role, "M-100" if role == "merchant" else None, role)[1]
        engine.dispose()
        app_settings = settings.model_copy(
            update={"database_url": url, "carrier_secrets_file": str(secrets_file)}
        )
        app = create_app(app_settings, client=cast(Client, object()))
        with TestClient(app) as client:
            gateway = RecordingGateway(client.app.state.ctx.sessions)  # type: ignore[attr-defined]
            client.app.state.ctx.gateway = gateway  # type: ignore[attr-defined]
            yield Api(client, keys, gateway)


def ago(days: float = 0) -> str:
    return (datetime.now(UTC) - timedelta(days=days)).isoformat()


def problem_field(answer: httpx.Response) -> str:
    assert answer.status_code == 422, answer.text
    assert answer.headers["content-type"].startswith("application/problem+json")
    return str(answer.json()["detail"])


# ---------------------------------------------------------------------------- policies


def test_most_specific_wins_field_by_field_and_the_policy_in_force_says_where_each_value_came_from(
    api: Api,
) -> None:
    made = api.post(POLICIES, {"effective_from": ago(3), "warranty_days": 730}, role="system")
    assert made.status_code == 201, made.text
    assert made.json()["level"] == "platform" and made.json()["version"] >= 1
    merchant = api.post(
        POLICIES, {"merchant_id": "M-200", "effective_from": ago(2), "no_reason_return_days": 10}
    )
    assert merchant.status_code == 201, merchant.text
    category = api.post(
        POLICIES,
        {
            "merchant_id": "M-200",
            "category": "fresh_food",
            "effective_from": ago(1),
            "no_reason_return_days": 0,
            "refund_on_scan_max": {"amount": "50.00", "currency": "CNY"},
        },
        role="manager",
    )
    assert category.status_code == 201, category.text
    future = api.post(
        POLICIES, {"merchant_id": "M-200", "effective_from": ago(-5), "no_reason_return_days": 3}
    )
    assert future.status_code == 201 and future.json()["version"] == 2

    shown = api.get("/v1/policies", merchant_id="M-200", category="fresh_food").json()
    windows, provenance = shown["after_sales_windows_days"], shown["provenance"]
    assert windows["no_reason_return"] == 0
    assert provenance["no_reason_return_days"].startswith("merchant M-200 category")
    assert windows["warranty_repair"] == 730 and provenance["warranty_days"].startswith("platform v")
    assert shown["refund_on_scan_max"]["amount"] == "50.00"
    assert "fresh_food" in shown["excluded_categories"] and provenance["excluded_categories"] == "default"
    assert [v["level"] for v in shown["versions"]] == ["platform", "merchant", "category"]
    assert provenance["limits.merchant_verification"] == "default"
    assert "merchant:M-200:v1" in shown["version"] and "category" in shown["version"]

    other = api.get("/v1/policies", merchant_id="M-200", category="appliances").json()
    assert other["after_sales_windows_days"]["no_reason_return"] == 10, (
        "the future version is not in force yet"
    )
    later = api.get("/v1/policies", merchant_id="M-200", at=ago(-6)).json()
    assert later["after_sales_windows_days"]["no_reason_return"] == 3

    history = api.get(POLICIES, role="supervisor", merchant_id="M-200").json()
    assert [v["version"] for v in history["versions"]] == [2, 1]
    assert api.get("/v1/admin/policies/merchants/M-200", role="supervisor").json() == history
    by_path = api.get("/v1/admin/policies/merchants/M-200/categories/fresh_food", role="manager").json()
    assert by_path["level"] == "category" and [v["version"] for v in by_path["versions"]] == [1]
    assert api.get("/v1/admin/policies/platform", role="system").json()["versions"][0]["level"] == "platform"
    first = {k: v for k, v in history["versions"][1]["document"].items() if v is not None}
    assert first == {"no_reason_return_days": 10}, "past versions never change"
    assert api.post(POLICIES, {"effective_from": ago()}, role="merchant").status_code == 403
    assert api.post(POLICIES, {"effective_from": ago()}, role="agent").status_code == 403


def test_a_case_starts_on_the_version_in_force_and_keeps_it(api: Api) -> None:
    assert (
        api.post(
            POLICIES, {"merchant_id": "M-300", "effective_from": ago(1), "warranty_days": 90}
        ).status_code
        == 201
    )
    answer = api.client.post("/v1/cases", json=case_body(merchant="M-300"), headers=api.as_("system"))
    assert answer.status_code == 201, answer.text
    inp = api.gateway.started[answer.json()["case_id"]]
    assert inp.policy.warranty_days == 90 and "merchant:M-300:v1" in inp.policy.version
    assert inp.policy.carrier_scans and inp.policy.approval_tiers[-1].role == "manager"
    # A newer version changes new cases only: the input already given is the case's for good.
    assert (
        api.post(
            POLICIES, {"merchant_id": "M-300", "effective_from": ago(0.5), "warranty_days": 30}
        ).status_code
        == 201
    )
    assert api.gateway.started[answer.json()["case_id"]].policy.warranty_days == 90
    second = api.client.post("/v1/cases", json=case_body(merchant="M-300"), headers=api.as_("system")).json()
    assert api.gateway.started[second["case_id"]].policy.warranty_days == 30


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"limits": {"merchant_verification": {"hours": "-1"}}}, "limits.merchant_verification.hours"),
        (
            {"limits": {"merchant_verification": {"hours": "24", "on_breach": "auto_pass"}}},
            "limits.merchant_verification.on_breach",
        ),
        (
            {
                "approval_tiers": [
                    {"role": "supervisor", "up_to": {"amount": "2000.00", "currency": "CNY"}},
                    {"role": "manager", "up_to": {"amount": "1500.00", "currency": "CNY"}},
                ]
            },
            "approval_tiers.1.up_to",
        ),
        ({"approval_tiers": [{"role": "supervisor"}, {"role": "manager"}]}, "approval_tiers.0.up_to"),
        ({"no_reason_return_days": -1}, "no_reason_return_days"),
        ({"category": "fresh_food"}, "category"),
    ],
)
def test_a_policy_that_cannot_work_is_refused_naming_the_field(
    api: Api, body: dict[str, Any], field: str
) -> None:
    answer = api.post(POLICIES, {"effective_from": ago(), **body})
    assert field in problem_field(answer)


# ---------------------------------------------------------------------------- carriers


def open_case_with_tracking(api: Api, tracking_no: str, closed: bool = False) -> str:
    answer = api.client.post("/v1/cases", json=case_body(), headers=api.as_("system"))
    assert answer.status_code == 201, answer.text
    case_id = str(answer.json()["case_id"])
    with api.sessions.begin() as session:
        carriers.remember_tracking(session, case_id, {"return_tracking_no": tracking_no})
        if closed:
            row = cases.get_case(session, case_id)
            assert row is not None
            row.status = "closed"
    return case_id


def event(tracking_no: str, event_id: str, kind: str = "pickup") -> dict[str, Any]:
    return {"event_id": event_id, "tracking_no": tracking_no, "kind": kind, "at": ago()}


def stored_event(api: Api, event_id: str) -> CarrierEventRow | None:
    with api.sessions() as session:
        return session.get(CarrierEventRow, ("sim", event_id))


def test_a_pickup_scan_signals_the_case_with_the_carrier_and_a_duplicate_changes_nothing(api: Api) -> None:
    case_id = open_case_with_tracking(api, "SIM-OK-1")
    answer = api.carrier_event(event("SIM-OK-1", "E-1"))
    assert answer.status_code == 202, answer.text
    assert answer.json() == {
        "carrier": "sim",
        "event_id": "E-1",
        "outcome": "signalled",
        "case_id": case_id,
        "duplicate": False,
    }
    (signalled,) = [s for s in api.gateway.signals if s[0] == case_id]
    scan = signalled[2]
    assert isinstance(scan, CarrierScan) and scan.kind == "pickup" and scan.actor == "carrier:sim"

    again = api.carrier_event(event("SIM-OK-1", "E-1", kind="delivered"))
    assert again.status_code == 200 and again.json()["duplicate"] is True
    assert len([s for s in api.gateway.signals if s[0] == case_id]) == 1
    row = stored_event(api, "E-1")
    assert row is not None and row.kind == "pickup" and row.outcome == "signalled"


def test_an_event_for_an_unknown_tracking_number_is_stored_and_answered_202_changing_no_case(
    api: Api,
) -> None:
    before = len(api.gateway.signals)
    answer = api.carrier_event(event("NOBODY-HAS-THIS", "E-unknown"))
    assert answer.status_code == 202 and answer.json()["outcome"] == "unknown_tracking"
    assert answer.json()["case_id"] is None and len(api.gateway.signals) == before
    assert stored_event(api, "E-unknown") is not None


def test_an_event_for_a_closed_case_is_recorded_and_ignored(api: Api) -> None:
    case_id = open_case_with_tracking(api, "SIM-CLOSED", closed=True)
    answer = api.carrier_event(event("SIM-CLOSED", "E-closed", kind="delivered"))
    assert answer.status_code == 202 and answer.json()["outcome"] == "case_closed"
    assert not [s for s in api.gateway.signals if s[0] == case_id]
    row = stored_event(api, "E-closed")
    assert row is not None and row.case_id == case_id and row.outcome == "case_closed"

    ended = open_case_with_tracking(api, "SIM-ENDED")  # its workflow has ended meanwhile
    api.gateway.ended.add(ended)
    assert api.carrier_event(event("SIM-ENDED", "E-ended")).json()["outcome"] == "case_closed"


@pytest.mark.parametrize("route", ["/v1/carrier-events", "/v1/carriers/{carrier}/events"])
@pytest.mark.parametrize(
    "how", ["wrong secret", "no signature", "unknown carrier", "tampered body", "not json"]
)
def test_a_bad_signature_is_refused_with_problem_json_and_nothing_is_stored(
    api: Api, how: str, route: str
) -> None:
    body = event("SIM-OK-1", f"E-bad-{how.replace(' ', '-')}-{len(route)}")
    carrier = "jd" if how == "unknown carrier" else "sim"
    raw = json.dumps({**body, "carrier": carrier} if "{carrier}" not in route else body).encode()
    headers = {"Content-Type": "application/json", SIGNATURE_HEADER: sign(SECRET, raw)}
    if how == "wrong secret":
        headers[SIGNATURE_HEADER] = sign("another-secret-0123456789", raw)
    elif how == "no signature":
        del headers[SIGNATURE_HEADER]
    elif how == "tampered body":
        raw = raw.replace(b"pickup", b"delivered")
    elif how == "not json":
        raw = b"{not json"
    answer = api.client.post(route.format(carrier=carrier), content=raw, headers=headers)
    # A body that is not JSON at all is refused by the API's body guard before any route reads it.
    assert answer.status_code == (422 if how == "not json" else 401)
    assert answer.headers["content-type"].startswith("application/problem+json")
    assert stored_event(api, body["event_id"]) is None


def test_a_signed_event_that_is_not_one_is_422(api: Api) -> None:
    answer = api.carrier_event({"event_id": "E-x", "tracking_no": "T", "kind": "teleported", "at": ago()})
    assert "kind" in problem_field(answer)


# ---------------------------------------------------------------------------- delegation


def person(api: Api, person_id: str, role: str) -> str:
    made = api.post(
        "/v1/admin/people",
        {"person_id": person_id, "display_name": person_id, "role": role, "skills": ["*"]},
        role="system",
    )
    assert made.status_code == 201, made.text
    key = api.post(f"/v1/admin/people/{person_id}/keys", {}, role="system")
    assert key.status_code == 201, key.text
    return str(key.json()["api_key"])


def awaiting_approval(api: Api, tier: str) -> str:
    answer = api.client.post("/v1/cases", json=case_body(), headers=api.as_("system"))
    case_id = str(answer.json()["case_id"])
    with api.sessions.begin() as session:
        row = cases.get_case(session, case_id)
        assert row is not None
        row.view = {**row.view, "step": "awaiting_approval", "approval_tier": tier}
    return case_id


def test_an_away_supervisor_delegates_to_a_colleague_who_approves_for_them_audited_with_both(
    api: Api,
) -> None:
    sup, col = person(api, "P-sup-away", "supervisor"), person(api, "P-colleague", "agent")
    case_id = awaiting_approval(api, "supervisor")
    refused = api.client.post(
        f"/v1/cases/{case_id}/approval",
        json={"decision": "approve"},
        headers={"Authorization": f"Bearer {col}"},
    )
    assert refused.status_code == 403, "no delegation yet"

    today = datetime.now(UTC).date()
    given = api.client.post(
        "/v1/me/delegations",
        json={
            "delegate_id": "P-colleague",
            "starts_on": str(today - timedelta(days=1)),
            "ends_on": str(today + timedelta(days=3)),
        },
        headers={"Authorization": f"Bearer {sup}"},
    )
    assert given.status_code == 201, given.text
    assert given.json()["delegator_role"] == "supervisor"
    mine = api.client.get("/v1/me/delegations", headers={"Authorization": f"Bearer {col}"}).json()
    assert [d["delegator_id"] for d in mine["items"]] == ["P-sup-away"]

    approved = api.client.post(
        f"/v1/cases/{case_id}/approval",
        json={"decision": "approve", "on_behalf_of": "P-forged"},
        headers={"Authorization": f"Bearer {col}"},
    )
    assert approved.status_code == 200, approved.text
    sent = api.gateway.acts[-1]
    assert sent.actor == "supervisor:P-sup-away:delegate:P-colleague"
    assert sent.payload["on_behalf_of"] == "P-sup-away", "the API sets it, never the caller"

    manager_tier = awaiting_approval(api, "manager")
    still = api.client.post(
        f"/v1/cases/{manager_tier}/approval",
        json={"decision": "approve"},
        headers={"Authorization": f"Bearer {col}"},
    )
    assert still.status_code == 403, "a supervisor's delegation does not reach the manager's tier"
    assert (
        api.post(f"/v1/cases/{manager_tier}/approval", {"decision": "approve"}, role="supervisor").status_code
        == 403
    )
    assert (
        api.post(f"/v1/cases/{manager_tier}/approval", {"decision": "approve"}, role="manager").status_code
        == 200
    )


def test_delegations_are_checked(api: Api) -> None:
    person(api, "P-agent-2", "agent")
    person(api, "P-mgr-2", "manager")
    today = str(datetime.now(UTC).date())
    dates = {"starts_on": today, "ends_on": today}
    agent_gives = api.post(
        "/v1/admin/delegations", {"delegator_id": "P-agent-2", "delegate_id": "P-mgr-2", **dates}
    )
    assert agent_gives.status_code == 422 and "approves nothing" in agent_gives.text
    backwards = {
        "delegator_id": "P-mgr-2",
        "delegate_id": "P-agent-2",
        "starts_on": today,
        "ends_on": "2000-01-01",
    }
    assert "ends_on" in problem_field(api.post("/v1/admin/delegations", backwards))
    ok = api.post("/v1/admin/delegations", {"delegator_id": "P-mgr-2", "delegate_id": "P-agent-2", **dates})
    assert ok.status_code == 201 and ok.json()["delegator_role"] == "manager"
    listed = api.get("/v1/admin/delegations", role="supervisor", person_id="P-mgr-2").json()
    assert len(listed["items"]) == 1


def test_secrets_file_is_not_in_the_answer(api: Api, tmp_path: Path) -> None:
    answer = api.carrier_event(event("NOBODY", "E-leak"))
    assert SECRET not in answer.text


def test_a_supervisor_may_not_make_a_managers_key(api: Api) -> None:
    person(api, "P-mgr-3", "manager")
    assert api.post("/v1/admin/people/P-mgr-3/keys", {}, role="supervisor").status_code == 403
    made = api.post("/v1/admin/people", {"display_name": "M", "role": "manager"}, role="supervisor")
    assert made.status_code == 403
