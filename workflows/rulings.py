"""Rulings of a dispute: the dispute team's, and the automatic one against a silent party (DESIGN §2).

Either one becomes the case's only option, taken, and is audited; the automatic one is told to both
parties.
"""

from __future__ import annotations

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from domain.dispute import auto_judgment
    from domain.models import DisputeRuling, ProposalOption
    from workflows.parts import CaseParts


def judged_automatically(p: CaseParts) -> ProposalOption | None:
    """At the evidence deadline: the ruling against the party that gave no evidence while the other
    did (when the policy allows it), or None when the team must rule."""
    judgment = None
    if p.policy.dispute_auto_judgment:
        judgment = auto_judgment(p.s.evidence_from, p.request, p.s.options, p.refundable())
    if judgment is None:
        p.event("dispute_evidence_closed", "evidence deadline passed: the team rules")
        return None
    p.decided(judgment.liability, judgment.option, judgment.reason_code)
    p.event(
        "auto_judged",
        judgment.summary,
        reason=judgment.reason_code,
        resolution=str(judgment.option.resolution),
    )
    p.rec.notify("customer", "dispute_judged", judgment.summary)
    p.rec.notify("merchant", "dispute_judged", judgment.summary)
    return judgment.option


def applied(p: CaseParts, ruling: DisputeRuling, actor: str) -> ProposalOption:
    """The dispute team's ruling (`actor`), taken."""
    p.decided(ruling.liability, ruling.resolution)
    p.event(
        "ruled",
        f"ruling: {ruling.resolution.resolution}, liability {ruling.liability}",
        actor=actor,
        resolution=str(ruling.resolution.resolution),
        private={"comment": ruling.comment},
    )
    return ruling.resolution
