"""The daily and weekly reports (seed 003; DESIGN §10), one run per schedule firing.

Each run asks which reports are due on the business calendar — the previous working days' (daily),
the weeks whose Friday, or eve of a Friday holiday, has come (weekly), and any missed before — and
builds each with retries: a report that could not be built is retried, a missed one caught up.
"""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy

with workflow.unsafe.imports_passed_through():
    from activities import contracts as act
    from domain.names import REPORTS_WORKFLOW_TYPE

REPORT_RETRY = RetryPolicy(initial_interval=timedelta(seconds=10), maximum_interval=timedelta(minutes=10))


@workflow.defn(name=REPORTS_WORKFLOW_TYPE)
class ReportsWorkflow:
    @workflow.run
    async def run(self, kind: str) -> list[str]:
        due = await workflow.execute_activity(
            act.REPORTS_DUE,
            act.ReportsDueRequest(kind=kind, at=workflow.now()),
            result_type=act.ReportsDue,
            start_to_close_timeout=timedelta(minutes=1),
            retry_policy=REPORT_RETRY,
        )
        built = []
        for key in due.keys:
            await workflow.execute_activity(
                act.BUILD_REPORT,
                act.BuildReport(kind=kind, key=key),
                start_to_close_timeout=timedelta(minutes=5),
                retry_policy=REPORT_RETRY,
                schedule_to_close_timeout=timedelta(hours=20),  # give up before the next day's run
                summary=f"{kind} report {key}",
            )
            built.append(key)
        return built
