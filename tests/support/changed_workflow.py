"""A deliberately broken change of the case workflow, for proving that the replay tests can fail.

It is registered under the same workflow name and adds a command (a timer) before anything else,
without `workflow.patched`: exactly the change a running case cannot survive.
"""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from domain.models import CaseInput, CaseView
    from workflows.case_workflow import CaseWorkflow


@workflow.defn(name="CaseWorkflow")
class CaseWorkflowWithAnUnpatchedTimer(CaseWorkflow):
    @workflow.run
    async def run(self, inp: CaseInput) -> CaseView:
        await workflow.sleep(timedelta(seconds=1), summary="a timer added without workflow.patched")
        return await super().run(inp)
