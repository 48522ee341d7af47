"""The forms of the case page: per action, its fields, and how a submitted form becomes the API body.

The browser checks each field before sending (api/console/static/console.js, from the attributes
given here); the API validates again and its problem detail is shown when it refuses.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Any

from api.auth import ACTION_ROLES
from domain.enums import Action, Actor, Liability, Resolution, Step
from domain.steps import STEP_TABLE
from domain.tiers import APPROVERS

AMOUNT_PATTERN = r"^(0|[1-9][0-9]{0,9})(\.[0-9]{1,2})?$"
CURRENCY = "CNY"


@dataclass(frozen=True)
class Field:
    name: str  # the form field; dots in `path` nest it in the body
    kind: str  # text, textarea, select, bool, money, url, int
    path: str = ""
    required: bool = False
    choices: tuple[str, ...] = ()
    label_kind: str = ""  # the catalogue's enum kind of the choices' labels

    @property
    def pattern(self) -> str | None:
        return AMOUNT_PATTERN if self.kind == "money" else None

    @property
    def target(self) -> str:
        return self.path or self.name


LIABILITY = Field("liability", "select", required=True, choices=tuple(Liability), label_kind="liability")
RESOLUTION = Field("resolution", "select", required=True, choices=tuple(Resolution), label_kind="resolution")
EVIDENCE_URL = Field("evidence_url", "url", path="evidence.0.url")

FORMS: dict[Action, tuple[Field, ...]] = {
    Action.CUSTOMER_INFO: (Field("description", "textarea"),),
    Action.MERCHANT_RESPONSE: (Field("accepts_claim", "bool", required=True), Field("comment", "textarea")),
    Action.PROPOSAL: (
        LIABILITY,
        Field(
            "resolution",
            "select",
            path="options.0.resolution",
            required=True,
            choices=tuple(Resolution),
            label_kind="resolution",
        ),
        Field("refund", "money", path="options.0.refund.amount"),
        Field("compensation", "money", path="options.0.compensation.amount"),
        Field("note", "textarea", path="options.0.note"),
    ),
    Action.APPROVAL: (Field("comment", "textarea"),),
    Action.CUSTOMER_DECISION: (Field("accept_option", "int", required=True),),
    Action.RETURN_SHIPMENT: (
        Field("carrier", "text", required=True),
        Field("tracking_no", "text", required=True),
    ),
    Action.RETURN_DELIVERED: (),
    Action.OUTBOUND_DELIVERED: (),
    Action.INSPECTION: (Field("passed", "bool", required=True), Field("note", "textarea")),
    Action.REPLACEMENT_SHIPMENT: (
        Field("carrier", "text", required=True),
        Field("tracking_no", "text", required=True),
    ),
    Action.ESCALATION: (Field("reason", "textarea", required=True),),
    Action.DISPUTE_EVIDENCE: (
        Field("party", "select", required=True, choices=("customer", "merchant"), label_kind="role"),
        Field("statement", "textarea", required=True),
        Field("evidence_url", "url", path="evidence.0.url", required=True),
    ),
    Action.DISPUTE_RULING: (
        LIABILITY,
        Field(
            "resolution",
            "select",
            path="resolution.resolution",
            required=True,
            choices=tuple(Resolution),
            label_kind="resolution",
        ),
        Field("refund", "money", path="resolution.refund.amount"),
        Field("compensation", "money", path="resolution.compensation.amount"),
        Field("comment", "textarea"),
    ),
    Action.WITHDRAWAL: (Field("reason", "textarea"),),
    Action.APPEAL: (Field("reason", "textarea", required=True),),
    Action.SURVEY: (),
    Action.NOTES: (),
    Action.SECOND_REMEDY: (Field("reason", "textarea", required=True),),
    Action.CLAIM: (),
    Action.ASSIGN: (Field("person_id", "text", required=True),),
    Action.RELEASE: (Field("reason", "text"),),
}
# Shown on the case page besides the step's own actions, while the case is open.
ANYTIME = (Action.ESCALATION, Action.CLAIM, Action.ASSIGN, Action.RELEASE)
NOT_FROM_CONSOLE = frozenset({Action.SURVEY, Action.NOTES})  # the customer's; notes are messages here


def actions_for(step: Step, role: Actor, delegate: bool = False) -> list[Action]:
    """The actions this step takes that this role may send (the API decides again). A role that is
    no approver (an agent) approves only while holding an away approver's delegation: `delegate`."""
    if step == Step.CLOSED:  # an appeal within the window reopens it (the workflow knows the window)
        return [Action.APPEAL] if role in ACTION_ROLES[Action.APPEAL] else []
    spec = STEP_TABLE.get(step)
    waiting = sorted(spec.waits_for) if spec else []
    found = [
        a
        for a in [*waiting, *ANYTIME]
        if role in ACTION_ROLES[a]
        and a not in NOT_FROM_CONSOLE
        and (a != Action.APPROVAL or delegate or role.value in APPROVERS["supervisor"])
    ]
    return list(dict.fromkeys(found))


def body_of(action: Action, form: dict[str, str]) -> dict[str, Any]:
    """The API body of a submitted form: empty optional fields left out, amounts as CNY money."""
    body: dict[str, Any] = {}
    if action == Action.APPROVAL:
        body["decision"] = "reject" if form.get("decision") == "reject" else "approve"
    for field in FORMS[action]:
        raw = form.get(field.name, "").strip()
        if raw == "":
            continue
        value: Any = raw
        if field.kind == "bool":
            value = raw in ("true", "yes", "on", "1")
        elif field.kind == "int":
            value = int(raw) if raw.lstrip("-").isdigit() else raw
        _put(body, field.target, value)
        if field.kind == "money":
            _put(body, field.target.rsplit(".", 1)[0] + ".currency", CURRENCY)
    if action == Action.DISPUTE_EVIDENCE and "evidence" in body:
        body["evidence"][0]["kind"] = "document"
    return body


def _put(body: dict[str, Any], path: str, value: Any) -> None:
    parts = path.split(".")
    node: Any = body
    for part, following in itertools.pairwise(parts):
        if part.isdigit():
            while len(node) <= int(part):
                node.append({})
            node = node[int(part)]
            continue
        node = node.setdefault(part, [] if following.isdigit() else {})
    last = parts[-1]
    node[last] = value
