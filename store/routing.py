"""The routing table: replaced whole, read whole (domain.routing evaluates it).

Every replacement is a row of `routing_changes` (who, when, the table as given); the rules in force
are those of the latest change. A replacement inserts its rules under its own change id in one
transaction, so a reader sees the old table or the new one, never a mix, and two replacements at
once never collide (the later change id wins). Older generations are deleted as they are replaced;
their history stays in `routing_changes`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from domain.money import Money
from domain.routing import RoutingRule, RoutingTable
from store.models import RoutingChangeRow, RoutingRuleRow

LISTS = ("issue_types", "reasons", "categories", "merchant_ids", "channels", "priorities")


@dataclass(frozen=True)
class RulesInForce:
    rules: list[RoutingRule]
    changed_by: str | None
    changed_at: datetime | None


def replace_rules(session: Session, table: RoutingTable, actor: str, now: datetime) -> RoutingChangeRow:
    """Make `table` the routing table, in the caller's transaction."""
    change = RoutingChangeRow(actor=actor, at=now, rules=table.model_dump(mode="json")["rules"])
    session.add(change)
    session.flush()
    for position, rule in enumerate(table.rules):
        session.add(_row_of(change.id, position, rule))
    session.execute(delete(RoutingRuleRow).where(RoutingRuleRow.generation < change.id))
    session.flush()
    return change


def rules_in_force(session: Session) -> RulesInForce:
    """The rules of the latest change, in order (none: every case goes to the default queue)."""
    return rules_of(session, generation(session))


def generation(session: Session) -> int | None:
    """The latest change's id (None: never changed): rules read at one generation stay right until
    the next change."""
    return session.scalar(_LATEST_CHANGE)


# Built once (hot: read for every new case): the statement keeps its cache key between calls.
_LATEST_CHANGE = select(func.max(RoutingChangeRow.id))


def rules_of(session: Session, latest: int | None) -> RulesInForce:
    """The rules of change `latest`, in order."""
    if latest is None:
        return RulesInForce([], None, None)
    change = session.get(RoutingChangeRow, latest)
    rows = session.scalars(
        select(RoutingRuleRow).where(RoutingRuleRow.generation == latest).order_by(RoutingRuleRow.position)
    )
    return RulesInForce(
        [_rule_of(row) for row in rows],
        change.actor if change else None,
        change.at if change else None,
    )


def _row_of(generation: int, position: int, rule: RoutingRule) -> RoutingRuleRow:
    lists: dict[str, Any] = {
        name: [str(v) for v in values] if (values := getattr(rule, name)) is not None else None
        for name in LISTS
    }
    return RoutingRuleRow(
        generation=generation,
        position=position,
        queue=rule.queue,
        name=rule.name,
        min_amount=rule.min_amount.amount if rule.min_amount else None,
        max_amount=rule.max_amount.amount if rule.max_amount else None,
        currency=rule.currency,
        **lists,
    )


def _rule_of(row: RoutingRuleRow) -> RoutingRule:
    def money(amount: Decimal | None) -> Money | None:
        return Money(amount=amount, currency=row.currency or "CNY") if amount is not None else None

    return RoutingRule.model_validate(
        {
            "queue": row.queue,
            "name": row.name,
            **{name: getattr(row, name) for name in LISTS},
            "min_amount": money(row.min_amount),
            "max_amount": money(row.max_amount),
        }
    )
