"""Versioned policy documents per platform, merchant and merchant+category (DESIGN §13). Pure.

A document sets some fields; the policy of a case is the built-in defaults overlaid by the platform's
document in force, then the merchant's, then the merchant's for the category: the most specific wins,
field by field (`limits` step by step). `resolve` says where each value came from.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import AwareDatetime, ConfigDict, Field, ValidationError, model_validator

from domain.enums import Step
from domain.modelbase import DomainModel
from domain.money import Money
from domain.policy import CasePolicy
from domain.steps import StepLimit, breach_problems
from domain.tiers import ApprovalTier, tier_problems

Level = Literal["platform", "merchant", "category"]
LEVELS: tuple[Level, ...] = ("platform", "merchant", "category")
DEFAULT_SOURCE = "default"
Days = int
Category = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.:-]*$")]


class PolicyDocument(DomainModel):
    """What one version sets; a field left out (None) comes from a less specific level."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    no_reason_return_days: Days | None = Field(default=None, ge=0, le=365)
    quality_exchange_days: Days | None = Field(default=None, ge=0, le=365)
    warranty_days: Days | None = Field(default=None, ge=0, le=3650)
    excluded_categories: tuple[Category, ...] | None = Field(default=None, max_length=100)
    limits: dict[Step, StepLimit] | None = None
    approval_tiers: tuple[ApprovalTier, ...] | None = Field(default=None, max_length=5)
    refund_approval_threshold: Money | None = None
    compensation_approval_threshold: Money | None = None
    compensation_cap: Money | None = None
    refund_on_scan_max: Money | None = None
    merchant_timeout_action: Literal["auto_accept", "escalate", "to_dispute"] | None = None
    carrier_scans: bool | None = None

    @model_validator(mode="after")
    def _workable(self) -> PolicyDocument:
        """Refuse what cannot work on its own, naming the field (the API answers 422 with it)."""
        problems = breach_problems(self.limits or {})
        problems += tier_problems(self.approval_tiers or ())
        if problems:
            raise ValueError("; ".join(problems))
        return self

    def fields_set(self) -> dict[str, Any]:
        return {
            name: getattr(self, name) for name in type(self).model_fields if getattr(self, name) is not None
        }


class PolicyVersion(DomainModel):
    """One immutable version of a level's document."""

    level: Level
    merchant_id: str | None = None
    category: str | None = None
    version: int = Field(ge=1)
    effective_from: AwareDatetime
    document: PolicyDocument
    created_at: datetime
    created_by: str

    @property
    def source(self) -> str:
        """How provenance names this version: `platform v3`, `merchant M-100 v2`, …"""
        if self.level == "platform":
            return f"platform v{self.version}"
        if self.level == "merchant":
            return f"merchant {self.merchant_id} v{self.version}"
        return f"merchant {self.merchant_id} category {self.category} v{self.version}"


# The platform's defaults when no platform version was ever written (DESIGN §2, §13).
DEFAULT_DOCUMENT = PolicyDocument(
    excluded_categories=("fresh_food", "customized", "digital", "hygiene_opened"),
    approval_tiers=(
        ApprovalTier(role="supervisor", up_to=Money(amount=Decimal("2000.00"), currency="CNY")),
        ApprovalTier(
            role="manager",
            limit=StepLimit(hours=Decimal("8"), basis="working", who_acts="manager"),
        ),
    ),
    limits={
        # No carrier scan for 15 days: the parcel is lost.
        Step.RETURN_IN_TRANSIT: StepLimit(
            hours=Decimal("360"), basis="calendar", on_breach="lost_parcel", who_acts="merchant"
        ),
    },
    carrier_scans=True,
)


class ResolvedPolicy(DomainModel):
    """The policy in force for a merchant and category, and where each value came from."""

    version: str
    effective_from: datetime | None
    versions: list[PolicyVersion]
    provenance: dict[str, str]
    policy: CasePolicy


def resolve(versions: list[PolicyVersion], base: CasePolicy | None = None) -> ResolvedPolicy:
    """Overlay the defaults with `versions` (least specific first); raises ValueError naming the
    field when the combination cannot work."""
    layers: list[tuple[str, PolicyDocument]] = [(DEFAULT_SOURCE, DEFAULT_DOCUMENT)]
    layers += [(v.source, v.document) for v in versions]
    values: dict[str, Any] = {}
    provenance: dict[str, str] = {}
    limits: dict[Step, StepLimit] = {}
    for source, document in layers:
        for name, value in document.fields_set().items():
            if name == "limits":
                for step, limit in value.items():
                    limits[step] = limit
                    provenance[f"limits.{step}"] = source
                continue
            values[name] = value
            provenance[name] = source
    start = base or CasePolicy()
    for name in PolicyDocument.model_fields:
        if name != "limits":
            provenance.setdefault(name, DEFAULT_SOURCE)
    for step in start.limits:
        provenance.setdefault(f"limits.{step}", DEFAULT_SOURCE)
    provenance = dict(sorted(provenance.items()))
    version = "+".join(v.source.replace(" ", ":") for v in versions) or DEFAULT_SOURCE
    values["limits"] = {**start.limits, **limits}
    values["version"] = version
    try:
        policy = CasePolicy.model_validate({**start.model_dump(), **values})
    except ValidationError as err:
        raise ValueError(str(err.errors()[0]["msg"])) from err
    effective = max((v.effective_from for v in versions), default=None)
    return ResolvedPolicy(
        version=version, effective_from=effective, versions=versions, provenance=provenance, policy=policy
    )
