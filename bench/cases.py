"""The benchmark's case: the README's kettle return, and the human steps that walk it to resolved."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

REFUND = {
    "resolution": "return_and_refund",
    "refund": {"amount": "129.00", "currency": "CNY"},
    "note": "full refund",
}
# (role, action path, payload, the step the case must be at to take it)
STEPS: list[tuple[str, str, dict[str, Any], str]] = [
    (
        "merchant",
        "merchant-response",
        {"accepts_claim": True, "comment": "leak confirmed"},
        "merchant_verification",
    ),
    ("agent", "proposal", {"liability": "merchant", "options": [REFUND]}, "liability_and_proposal"),
    ("system", "customer-decision", {"accept_option": 0}, "awaiting_customer_decision"),
    (
        "system",
        "return-shipment",
        {"carrier": "SF Express", "tracking_no": "SF1234567890"},
        "awaiting_return_shipment",
    ),
    ("merchant", "return-delivered", {}, "return_in_transit"),
    ("merchant", "inspection", {"passed": True, "note": "leak reproduced"}, "awaiting_inspection"),
    ("system", "survey", {"csat": 5, "nps": 9, "comment": "quick and fair"}, "follow_up"),
]


def case_body(order_id: str) -> dict[str, Any]:
    now = datetime.now(UTC)
    return {
        "order": {
            "order_id": order_id,
            "merchant_id": "M-100",
            "customer_id": "C-42",
            "paid_at": (now - timedelta(days=4)).isoformat(),
            "delivered_at": (now - timedelta(days=2)).isoformat(),
            "payment_method": "alipay",
            "lines": [
                {
                    "line_id": "L1",
                    "sku": "SKU-1",
                    "name": "Electric kettle",
                    "category": "appliances",
                    "quantity": 1,
                    "unit_price": {"amount": "129.00", "currency": "CNY"},
                }
            ],
        },
        "line_ids": ["L1"],
        "issue_type": "return_and_refund",
        "reason": "quality_issue",
        "description": "The kettle leaks from the base.",
        "evidence": [{"kind": "image", "url": "https://cdn.example.com/e/1.jpg"}],
        "contact": {"name": "张三", "phone": "+86 138 0000 0000", "address": "上海市浦东新区"},
        "channel": "app",
    }
