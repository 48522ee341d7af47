"""The refund ledger and the order lines it draws on.

One refund row per money-moving decision (case, seq), reserved `pending` before any money moves; what
all cases of an order line reserve or pay back never exceeds what was paid for the line (DESIGN §8).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal

from sqlalchemy import bindparam, func, select
from sqlalchemy.orm import Session

from domain.models import OrderLine
from domain.money import Money
from domain.names import refund_key
from store.common import insert_unless_taken, utcnow
from store.errors import OrderLineMismatch, RefundConflict, RefundLimitExceeded
from store.models import CaseRow, OrderLineRow, RefundLineRow, RefundRow

REFUND_STATUSES = ("pending", "succeeded", "unknown", "failed")
# Refunds that may have paid (or will): they count against what can still be refunded.
OPEN_OR_PAID_REFUNDS = ("pending", "succeeded", "unknown")


@dataclass(frozen=True)
class ClaimedLines:
    order_id: str
    lines: list[OrderLine]

    @property
    def line_ids(self) -> list[str]:
        return [line.line_id for line in self.lines]


def claimed_lines(case: CaseRow) -> ClaimedLines:
    """The order and the claimed lines of a stored case (read from the request's plain fields)."""
    order = case.request["order"]
    wanted = set(case.request["line_ids"])
    lines = [OrderLine.model_validate(line) for line in order["lines"] if line["line_id"] in wanted]
    return ClaimedLines(order["order_id"], lines)


def record_order_lines(session: Session, order_id: str, lines: Sequence[OrderLine]) -> None:
    """Remember what was paid for each claimed line; a later case must name the same amount.

    Two cases of different line sets of one order may record a line at once: the second reads the first's.
    """
    for line in lines:
        paid = line.total
        if insert_unless_taken(session, _new_order_line(order_id, line.line_id, paid)):
            continue
        stored = session.get(OrderLineRow, (order_id, line.line_id), populate_existing=True)
        assert stored is not None  # the conflict was this row's key
        if (stored.paid_amount, stored.currency) != (paid.amount, paid.currency):
            recorded = Money(amount=stored.paid_amount, currency=stored.currency)
            raise OrderLineMismatch(order_id, line.line_id, recorded, paid)


def _new_order_line(order_id: str, line_id: str, paid: Money) -> OrderLineRow:
    return OrderLineRow(
        order_id=order_id, line_id=line_id, currency=paid.currency,
        paid_amount=paid.amount, refunded_amount=Decimal(0), updated_at=utcnow(),
    )  # fmt: skip


def line_money(session: Session, case: CaseRow) -> list[tuple[OrderLine, Decimal]]:
    """Each claimed line of a case with what all its cases have refunded (or may still pay) on it."""
    claimed = claimed_lines(case)
    rows = session.scalars(
        select(OrderLineRow).where(
            OrderLineRow.order_id == claimed.order_id, OrderLineRow.line_id.in_(claimed.line_ids)
        )
    )
    refunded = {row.line_id: Decimal(row.refunded_amount) for row in rows}
    return [(line, refunded.get(line.line_id, Decimal(0))) for line in claimed.lines]


def refunded_on_lines(session: Session, order_id: str, line_ids: Sequence[str], currency: str) -> Money:
    """What all cases together have refunded (or may still pay) on these order lines."""
    total = session.scalar(_REFUNDED_ON_LINES, {"order_id": order_id, "line_ids": list(line_ids)})
    return Money(amount=Decimal(total or 0), currency=currency)


# Read for every new case: built once, so it keeps its cache key between calls.
_REFUNDED_ON_LINES = select(func.coalesce(func.sum(OrderLineRow.refunded_amount), 0)).where(
    OrderLineRow.order_id == bindparam("order_id"),
    OrderLineRow.line_id.in_(bindparam("line_ids", expanding=True)),
)


def reserve_refund(session: Session, case_id: str, seq: int, amount: Money) -> RefundRow:
    """The ledger row for this decision (created `pending`), before any money moves.

    Idempotent: the same (case_id, seq) returns the stored row, whatever its status now. Raises
    RefundLimitExceeded when non-failed refunds plus this one would exceed what was paid, and
    RefundConflict when the same decision comes back with another amount. The case row lock makes
    concurrent reservations of one case take turns, so together they cannot over-refund.
    """
    case = session.get(CaseRow, case_id, with_for_update=True)
    if case is None:
        raise LookupError(f"case {case_id} is not in the store")
    existing = session.get(RefundRow, (case_id, seq), populate_existing=True)
    if existing is not None:
        if (existing.amount, existing.currency) != (amount.amount, amount.currency):
            raise RefundConflict(
                f"refund {refund_key(case_id, seq)} was reserved for {existing.amount} {existing.currency}, "
                f"not {amount}"
            )
        return existing
    if amount.currency != case.currency:
        raise RefundLimitExceeded(f"refund in {amount.currency} for a case paid in {case.currency}")
    if amount.amount <= 0:
        raise RefundLimitExceeded(f"a refund must be above zero, not {amount}")
    already = refunded_total(session, case_id, include_pending=True)
    if already.amount + amount.amount > case.paid_amount:
        raise RefundLimitExceeded(
            f"refund of {amount} would exceed what was paid ({case.paid_amount} {case.currency}) "
            f"minus earlier refunds ({already})"
        )
    shares = _allocate_to_lines(session, case, amount)
    now = utcnow()
    row = RefundRow(
        case_id=case_id,
        seq=seq,
        idempotency_key=refund_key(case_id, seq),
        amount=amount.amount,
        currency=amount.currency,
        status="pending",
        created_at=now,
        updated_at=now,
    )
    session.add(row)
    session.flush()
    for (order_id, line_id), share in shares.items():
        session.add(RefundLineRow(case_id=case_id, seq=seq, line_id=line_id, order_id=order_id, amount=share))
    session.flush()
    return row


def _allocate_to_lines(session: Session, case: CaseRow, amount: Money) -> dict[tuple[str, str], Decimal]:
    """Split a refund over the case's order lines, each up to what is left on it across every case.

    The lines' ledger rows are locked (in a fixed order, so two cases cannot deadlock), so a
    concurrent refund on the same line waits for this transaction and then sees what it took.
    Raises RefundLimitExceeded when the lines together have less left than the amount.
    """
    req = claimed_lines(case)
    record_order_lines(session, req.order_id, req.lines)  # cases opened before the ledger existed
    order_id = req.order_id
    shares: dict[tuple[str, str], Decimal] = {}
    wanted = amount.amount
    for line_id in sorted(req.line_ids):
        ledger = session.get(OrderLineRow, (order_id, line_id), with_for_update=True, populate_existing=True)
        assert ledger is not None
        share = min(ledger.paid_amount - ledger.refunded_amount, wanted)
        if share > 0:
            shares[(order_id, line_id)] = share
            wanted -= share
    if wanted > 0:
        left = amount.amount - wanted
        raise RefundLimitExceeded(
            f"refund of {amount} exceeds what is left to refund on order {order_id} lines "
            f"{', '.join(req.line_ids)} across all their cases ({left} {amount.currency})"
        )
    for (line_order, line_id), share in shares.items():
        ledger = session.get(OrderLineRow, (line_order, line_id))
        assert ledger is not None
        ledger.refunded_amount += share
        ledger.updated_at = utcnow()
    return shares


def mark_refund(
    session: Session, case_id: str, seq: int, status: str, provider_refund_id: str | None = None
) -> None:
    """Record what the provider said. `succeeded` is final: a late `unknown` cannot undo a payment."""
    if status not in REFUND_STATUSES:
        raise ValueError(f"refund status must be one of {', '.join(REFUND_STATUSES)}, not {status!r}")
    row = session.get(RefundRow, (case_id, seq), with_for_update=True)
    if row is None:
        raise LookupError(f"no refund {case_id}/{seq}")
    if row.status in ("succeeded", "failed"):
        return  # final
    if status == "failed":
        _release_lines(session, case_id, seq)  # the provider refused: nothing was paid
    row.status = status
    row.provider_refund_id = provider_refund_id or row.provider_refund_id
    row.updated_at = utcnow()


def _release_lines(session: Session, case_id: str, seq: int) -> None:
    for share in session.scalars(
        select(RefundLineRow).where(RefundLineRow.case_id == case_id, RefundLineRow.seq == seq)
    ):
        ledger = session.get(OrderLineRow, (share.order_id, share.line_id), with_for_update=True)
        if ledger is not None:
            ledger.refunded_amount = max(ledger.refunded_amount - share.amount, Decimal(0))
            ledger.updated_at = utcnow()


def refunded_total(session: Session, case_id: str, include_pending: bool = False) -> Money:
    """What the provider confirmed refunding; with include_pending, also what may still be paid."""
    statuses = OPEN_OR_PAID_REFUNDS if include_pending else ("succeeded",)
    case = session.get(CaseRow, case_id)
    currency = case.currency if case else "CNY"
    total = session.scalar(
        select(func.coalesce(func.sum(RefundRow.amount), 0)).where(
            RefundRow.case_id == case_id, RefundRow.status.in_(statuses)
        )
    )
    return Money(amount=Decimal(total or 0), currency=currency)


def list_refunds(session: Session, case_id: str) -> list[RefundRow]:
    return list(
        session.scalars(select(RefundRow).where(RefundRow.case_id == case_id).order_by(RefundRow.seq))
    )
