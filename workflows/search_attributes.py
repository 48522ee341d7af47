"""Custom search attributes of DESIGN §5. Never put personal data here: they are not encrypted.

The dev server's SQL visibility keeps few Keyword slots free (it pre-registers its own Custom*
fields): the seven of DESIGN §5 fit, more did not. The case id needs none: it is in the workflow id
(`WorkflowId="case-<id>"`).
"""

from __future__ import annotations

from typing import Any

from temporalio.common import SearchAttributeKey

CASE_STATUS = SearchAttributeKey.for_keyword("CaseStatus")
CASE_STEP = SearchAttributeKey.for_keyword("CaseStep")
ISSUE_TYPE = SearchAttributeKey.for_keyword("IssueType")
MERCHANT_ID = SearchAttributeKey.for_keyword("MerchantId")
ORDER_ID = SearchAttributeKey.for_keyword("OrderId")
PRIORITY = SearchAttributeKey.for_keyword("Priority")
ASSIGNED_TO = SearchAttributeKey.for_keyword("AssignedTo")
SLA_BREACHED = SearchAttributeKey.for_bool("SlaBreached")

ALL_KEYS: list[SearchAttributeKey[Any]] = [
    CASE_STATUS,
    CASE_STEP,
    ISSUE_TYPE,
    MERCHANT_ID,
    ORDER_ID,
    PRIORITY,
    ASSIGNED_TO,
    SLA_BREACHED,
]


def cli_flags() -> list[str]:
    """`--search-attribute Name=Type` flags for `temporal server start-dev`."""
    flags: list[str] = []
    for key in ALL_KEYS:
        kind = "Bool" if key.indexed_value_type.name.endswith("BOOL") else "Keyword"
        flags += ["--search-attribute", f"{key.name}={kind}"]
    return flags
