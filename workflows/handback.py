"""Hand-back (DESIGN §9): an agent who goes `offline` has their open cases handed back to the queue
after a grace period. One small workflow per person, `handback-<person_id>`, started by the API when
the person sets `offline` (a newer offline restarts it) or is deactivated (no grace). At the end of
the grace period it reads the person's presence and open cases, and if they are still offline it
signals each case `release` on their behalf (actor `system:handback`, with the reason); a case
reassigned meanwhile refuses that release (it is no longer theirs) and keeps its new assignee.
"""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import FailureError

with workflow.unsafe.imports_passed_through():
    from activities import contracts as act
    from domain.enums import Action
    from domain.names import HANDBACK_ACTOR, HANDBACK_WORKFLOW_TYPE, workflow_id_for
    from domain.people import HandbackInput, HandbackOutcome


@workflow.defn(name=HANDBACK_WORKFLOW_TYPE)
class HandbackWorkflow:
    @workflow.run
    async def run(self, inp: HandbackInput) -> HandbackOutcome:
        person = inp.person_id
        if inp.grace_seconds > 0:
            await workflow.sleep(
                timedelta(seconds=inp.grace_seconds), summary=f"grace period: {person} went {inp.why}"
            )
        held = await workflow.execute_activity(
            act.CASES_TO_HAND_BACK,
            act.HandbackRequest(person_id=person),
            result_type=act.HandbackCases,
            start_to_close_timeout=timedelta(seconds=30),
            retry_policy=RetryPolicy(maximum_interval=timedelta(seconds=30)),
            summary=f"{person}'s open cases, if still {inp.why}",
        )
        outcome = HandbackOutcome(person_id=person, kept_because=held.kept_because)
        reason = f"{person} {inp.why}" + (f" for {inp.grace_seconds:g} s" if inp.grace_seconds else "")
        release = {"person_id": person, "actor": HANDBACK_ACTOR, "reason": f"handed back: {reason}"}
        for case_id in held.case_ids:
            case = workflow.get_external_workflow_handle(workflow_id_for(case_id))
            try:
                await case.signal(Action.RELEASE.value, release)
            except FailureError:  # the case closed meanwhile: nothing to hand back
                outcome.not_signalled.append(case_id)
            else:
                outcome.released.append(case_id)
        return outcome
