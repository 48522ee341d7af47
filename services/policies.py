"""Policy administration (DESIGN §13), shared by the API and the CLI: store a new version after
checking that it works with what it overlays, and resolve the policy in force."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from domain.policy import CasePolicy
from domain.policy_docs import PolicyDocument, PolicyVersion, ResolvedPolicy, resolve
from store import policies


class PolicyRefused(ValueError):
    """The version cannot work (with the levels it overlays): the message names the field."""


def create_version(
    session: Session,
    merchant_id: str | None,
    category: str | None,
    effective_from: datetime,
    document: PolicyDocument,
    created_by: str,
) -> PolicyVersion:
    """Store the level's next version, once the policy it makes in force at `effective_from` works."""
    if category is not None and merchant_id is None:
        raise PolicyRefused("category: a category policy belongs to a merchant (give merchant_id)")
    version = policies.add_version(session, merchant_id, category, effective_from, document, created_by)
    layers = [
        v
        for v in policies.in_force(session, merchant_id, category, effective_from)
        if v.level != version.level
    ]
    layers = sorted([*layers, version], key=lambda v: ("platform", "merchant", "category").index(v.level))
    try:
        resolve(layers)
    except ValueError as err:
        raise PolicyRefused(str(err)) from err
    return version


def in_force(
    session: Session,
    merchant_id: str | None,
    category: str | None,
    at: datetime,
    base: CasePolicy | None = None,
) -> ResolvedPolicy:
    """The policy in force at `at` for the merchant and category, with each field's provenance."""
    return resolve(policies.in_force(session, merchant_id, category, at), base)
