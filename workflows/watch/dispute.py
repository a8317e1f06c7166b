"""The dispute phase: "this refund is abnormal" opens an evidence window with its own lighter
ladder; evidence in time moves the refund to ``evidence_submitted`` and the platform decides;
no evidence by the due time ends the watch as ``evidence_missed`` (a loss). A one-click
rejection brings its own evidence: the risk gate's reasons."""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from activities.records import RecordActivities
    from activities.types import DisputeInput, RejectionInput
    from domain.answers import judge_evidence
    from domain.vocabulary import RISK_REASONS, Action, EvidenceSource, Stage
    from platform_webhooks.types import DISPUTED, EVIDENCE_SUBMITTED, REJECTED
    from workflows.inputs import EvidenceSubmitted, MerchantAnswer
    from workflows.watch.escalation import Escalation
    from workflows.watch.records import PATCH_DISPUTES, QUICK, SEND_RETRY, Records
    from workflows.watch.state import WatchState

__all__ = ["Dispute"]


class Dispute:
    def __init__(self, state: WatchState, records: Records, escalation: Escalation) -> None:
        self._s = state
        self._records = records
        self._escalation = escalation

    async def open(self, answer: MerchantAnswer) -> None:
        state, params = self._s, self._s.params
        state.dispute.handled = True
        if not workflow.patched(PATCH_DISPUTES):
            return  # a watch that started before disputes existed stays acknowledged
        window = params.evidence_window_s or params.policy.dispute.evidence_window_s
        state.evidence_due = workflow.now() + timedelta(seconds=window)
        rejected = answer.action == Action.REJECT
        await self._records.write(
            RecordActivities.record_dispute,
            DisputeInput(
                params.refund_id,
                params.merchant_id,
                self._records.workflow_id(),
                answer.action,
                answer.channel,
                state.evidence_due,
            ),
        )
        await self._records.set_stage(Stage.REJECTED if rejected else Stage.DISPUTED)
        if rejected:
            evidence_id = await workflow.execute_activity_method(
                RecordActivities.record_rejection_evidence,
                RejectionInput(
                    params.refund_id,
                    params.merchant_id,
                    self._records.workflow_id(),
                    answer.source_event_id,
                ),
                start_to_close_timeout=QUICK,
                retry_policy=SEND_RETRY,
            )
            state.evidence.value = EvidenceSubmitted(
                evidence_id, RISK_REASONS, EvidenceSource.RISK_GATE, answer.at
            )
            state.evidence.handled = True
            state.queue = []
            await self._records.tell(REJECTED, str(evidence_id), evidence_id)
            return
        await self._records.tell(DISPUTED, "1")
        state.queue = self._escalation.evidence_queue()
        await self._records.audit(
            "evidence.planned",
            {
                "evidence_due": state.evidence_due.isoformat(),
                "steps": [{"step": s.spec.name, "at": s.at.isoformat()} for s in state.queue],
            },
        )

    async def take_evidence(self, evidence: EvidenceSubmitted) -> None:
        state = self._s
        assert state.evidence_due is not None
        facts = state.facts(closed_by_resolution=False)
        if judge_evidence(facts, facts.merchant_id, evidence.at) is not None:
            # Submitted after the window closed: it stays on record, but the window is missed.
            state.evidence.value = None
            detail = {"evidence_id": evidence.evidence_id, "reason": "after the evidence window"}
            await self._records.audit("evidence.late", detail)
            return
        state.evidence.handled = True
        state.queue = []
        await self._records.set_stage(Stage.EVIDENCE_SUBMITTED)
        evidence_id = evidence.evidence_id
        await self._records.tell(EVIDENCE_SUBMITTED, str(evidence_id), evidence_id)

    async def take_more_evidence(self) -> None:
        """Evidence after the first: told to the platform as well, if it came in time."""
        state = self._s
        while state.more_evidence:
            evidence = state.more_evidence.pop(0)
            facts = state.facts(closed_by_resolution=False)
            if judge_evidence(facts, facts.merchant_id, evidence.at) is not None:
                detail = {
                    "evidence_id": evidence.evidence_id,
                    "reason": "after the evidence window",
                }
                await self._records.audit("evidence.late", detail)
                continue
            evidence_id = evidence.evidence_id
            await self._records.tell(EVIDENCE_SUBMITTED, str(evidence_id), evidence_id)
