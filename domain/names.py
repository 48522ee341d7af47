"""Names that cross process boundaries, defined once: the API, the CLI, the worker and the workflow
agree on them (a typo here would be a case that never hears a signal)."""

from __future__ import annotations

WORKFLOW_TYPE = "CaseWorkflow"
# The first-response clock of one customer message (workflows/reply_clock.py), `reply-<message id>`.
REPLY_CLOCK_TYPE = "ReplyClock"
# The daily and weekly reports, started by the schedules `report-daily` and `report-weekly`.
REPORTS_WORKFLOW_TYPE = "Reports"
REPORT_SCHEDULES = {"daily": "report-daily", "weekly": "report-weekly"}
SIGNAL_REPLIED = "replied"
QUERY_CASE = "case"
QUERY_CLOCKS = "clocks"

# Signals ops and the admin endpoints send to running cases (besides one per human action).
SIGNAL_CALENDAR_CHANGED = "calendar_changed"
SIGNAL_FREEZE = "freeze"
SIGNAL_THAW = "thaw"
# A carrier's tracking scan of one of the case's parcels (api/routes_carriers.py).
SIGNAL_CARRIER_SCAN = "carrier_scan"
# Hands an offline (or deactivated) person's open cases back to their queues (workflows/handback.py).
HANDBACK_WORKFLOW_TYPE = "Handback"
HANDBACK_ACTOR = "system:handback"

# Failure types of a refused Update; the API maps them to HTTP statuses.
WRONG_STEP = "WrongStep"
CASE_CLOSED = "CaseClosed"
ASSIGNMENT_CONFLICT = "AssignmentConflict"  # claimed by someone else, or not theirs to release
INVALID_PAYLOAD = "InvalidPayload"
NOT_APPROVER = "NotApprover"  # the approval tier needs another role (a manager)
HTTP_STATUS_OF_REFUSAL = {
    WRONG_STEP: 409,
    CASE_CLOSED: 409,
    ASSIGNMENT_CONFLICT: 409,
    INVALID_PAYLOAD: 422,
    NOT_APPROVER: 403,
}


def workflow_id_for(case_id: str) -> str:
    return f"case-{case_id}"


def handback_workflow_id(person_id: str) -> str:
    return f"handback-{person_id}"


def refund_key(case_id: str, seq: int) -> str:
    """The provider idempotency key of a refund decision: a retried payment cannot pay twice."""
    return f"{case_id}-refund-{seq}"
