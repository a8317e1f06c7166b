"""The watch's bookkeeping, shared by every phase: audit entries, the stage, telling the
platform, and the end of the watch. Activities are called by reference, so their inputs are
type-checked; their names are pinned in activities/ so recorded histories still replay.

Workflow changes that alter the commands of running watches are guarded by these patches
(see tests/test_replay.py for how a patch is added and, later, deprecated).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any, TypeVar

from temporalio import workflow
from temporalio.common import RetryPolicy

with workflow.unsafe.imports_passed_through():
    from activities.closing import ClosingActivities
    from activities.records import RecordActivities
    from activities.risk_feedback import RiskFeedbackActivities
    from activities.types import (
        STAGE_CHANGED,
        AuditInput,
        ClosingInput,
        OutcomeInput,
        RiskFeedbackInput,
        StageChange,
    )
    from domain.vocabulary import Outcome, Stage
    from platform_webhooks.types import STAGE_CHANGED as STAGE_CHANGED_EVENT
    from workflows import search_attributes as sa
    from workflows.platform_webhooks import tell_platform
    from workflows.watch.state import WatchState

__all__ = [
    "PATCH_CALL_TIMES",
    "PATCH_DISPUTES",
    "PATCH_LATE_RESOLUTION",
    "PATCH_LOCAL_BOOKKEEPING",
    "PATCH_MORE_EVIDENCE",
    "PATCH_NOTICE_EVENTS",
    "PATCH_ONE_CLOSING",
    "PATCH_OUTCOME_COMMITTED",
    "PATCH_REPORT_LOOKUP",
    "PATCH_SMS_CHECK_SETTLED",
    "PATCH_STEP_RECORDS",
    "PATCH_STORED_RESOLUTION",
    "QUICK",
    "SEND_RETRY",
    "Records",
]

# A platform decision taken at or after the deadline is a timeout.
PATCH_LATE_RESOLUTION = "late-resolution-is-timeout"
# Disputes, evidence, rejections, platform webhooks, risk feedback.
PATCH_DISPUTES = "dispute-phase"
# Audit, notice, outcome and answer writes as local activities.
PATCH_LOCAL_BOOKKEEPING = "local-bookkeeping"
# Evidence after the first (until the evidence deadline) is told to the platform too.
PATCH_MORE_EVIDENCE = "more-evidence"
# The outcome (and the loss ledger) is written by a regular activity, once the decision is in
# the history: a local activity runs before its workflow task completes, so a worker killed at
# that moment could leave "timed_out" on record while the retried task, seeing a resolution
# that arrived meanwhile, decides "resolved" (found by tests/test_faults.py, seed 6).
PATCH_OUTCOME_COMMITTED = "outcome-after-commit"
# A send whose report did not come is looked up in the provider's records (a lost callback).
PATCH_REPORT_LOOKUP = "report-lookup"
# Each call's outcome is kept by the contact's local hour, and call steps move to the hour the
# contact is most likely to answer (domain/call_times.py; a local activity reads the odds).
PATCH_CALL_TIMES = "call-timing-learned"
# A step's bookkeeping rides with its work: the stage change of an in-app or SMS step is
# written by the notice / send activity in its own transaction, not by a local activity of
# its own (one marker, one activation and one transaction less per step; bench.step_cost).
PATCH_STEP_RECORDS = "step-records-in-activity"
# The outcome and the risk feedback are written by one regular activity (record_closing), not
# two in a row: one activity task and one workflow task less per watch (bench.step_cost).
PATCH_ONE_CLOSING = "one-closing-activity"
# Each in-app notice, each SMS or call sent and each stage change is told to the platform as a
# signed notice event (only for watches started with notice_events).
PATCH_NOTICE_EVENTS = "notice-events"
# An SMS's final delivery report settles its pending provider look-up: the timer set for the
# look-up is cancelled then, instead of firing only to find the report already in (one
# workflow task less per SMS step; bench.step_cost).
PATCH_SMS_CHECK_SETTLED = "sms-check-settled"
# When the deadline fires with no resolution heard, the watch reads the resolution the API may
# have stored before it (its signal still on the way: an API slow under load, a 503 retried):
# a decision taken in time saves the refund however late its signal comes (found by
# tests/test_faults.py at 1,000 refunds: stored 0.76 s before the deadline, heard 0.15 s after).
PATCH_STORED_RESOLUTION = "deadline-reads-stored-resolution"

SEND_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(seconds=30),
)
QUICK = timedelta(seconds=30)

A = TypeVar("A")


class Records:
    def __init__(self, state: WatchState) -> None:
        self._s = state

    @staticmethod
    def workflow_id() -> str:
        return workflow.info().workflow_id

    async def write(self, activity: Callable[[Any, A], Awaitable[Any]], arg: A) -> None:
        """A quick bookkeeping write (audit, notice, outcome): idempotent by its own key, so it
        runs as a local activity — no activity task round trip through the server, which is
        what bounds a small machine's throughput when many watches step at once."""
        if workflow.patched(PATCH_LOCAL_BOOKKEEPING):
            await workflow.execute_local_activity_method(
                activity, arg, start_to_close_timeout=QUICK, retry_policy=SEND_RETRY
            )
            return
        await workflow.execute_activity_method(
            activity, arg, start_to_close_timeout=QUICK, retry_policy=SEND_RETRY
        )

    async def write_after_commit(
        self, activity: Callable[[Any, A], Awaitable[Any]], arg: A
    ) -> None:
        """A write that acts on a decision: as a regular activity, it runs only once the
        workflow task that decided is in the history (watches started before this patch keep
        the local activity they recorded)."""
        if workflow.patched(PATCH_OUTCOME_COMMITTED):
            await workflow.execute_activity_method(
                activity, arg, start_to_close_timeout=QUICK, retry_policy=SEND_RETRY
            )
            return
        await self.write(activity, arg)

    def _next_audit_key(self) -> str:
        self._s.audit_seq += 1
        return f"{self.workflow_id()}:audit:{self._s.audit_seq}"

    async def audit(self, kind: str, detail: dict[str, object], stage: str | None = None) -> None:
        await self.write(
            RecordActivities.record_audit,
            AuditInput(
                self._s.params.refund_id,
                self._s.params.merchant_id,
                kind,
                dedup_key=self._next_audit_key(),
                detail=detail,
                stage=stage,
            ),
        )

    async def set_stage(self, stage: Stage) -> None:
        if stage == self._s.stage:
            return
        self._s.stage = stage
        workflow.upsert_search_attributes([sa.STAGE.value_set(stage)])
        await self.audit(STAGE_CHANGED, {"stage": stage}, stage=stage)
        await self.tell_notice(STAGE_CHANGED_EVENT, stage)

    def stage_for_activity(self, stage: Stage) -> StageChange | None:
        """The stage change a step's own activity will record (patch step-records-in-activity):
        its audit key is taken now; :meth:`stage_recorded` applies it once the activity did."""
        if stage == self._s.stage:
            return None
        return StageChange(stage, self._next_audit_key())

    def stage_recorded(self, change: StageChange) -> None:
        self._s.stage = Stage(change.stage)
        workflow.upsert_search_attributes([sa.STAGE.value_set(change.stage)])

    async def tell_notice(self, kind: str, subject: str) -> None:
        """A notice event for the platform's own app (not awaited, not on the timeline: the
        notice, the send and the stage are there already)."""
        params = self._s.params
        if not params.notice_events or not workflow.patched(PATCH_NOTICE_EVENTS):
            return
        await tell_platform(
            kind, params.refund_id, params.merchant_id, f"{kind}:{subject}", subject=subject
        )

    async def tell(self, kind: str, key: str, evidence_id: int | None = None) -> None:
        """Tell the platform (signed webhook, delivered by its own workflow; not awaited)."""
        params = self._s.params
        event_id = await tell_platform(
            kind, params.refund_id, params.merchant_id, key, evidence_id=evidence_id
        )
        await self.audit("platform.told", {"type": kind, "event_id": event_id})

    async def finish(self, outcome: Outcome) -> None:
        state, params = self._s, self._s.params
        state.outcome = outcome
        state.queue = []
        await self.set_stage(Stage.CLOSED)
        workflow.upsert_search_attributes([sa.OUTCOME.value_set(outcome)])
        resolution = state.resolution.resolution if state.resolution else None
        answer = state.answer.value
        closing = OutcomeInput(
            params.refund_id,
            params.merchant_id,
            self.workflow_id(),
            outcome,
            resolution=resolution,
            answer=answer.action if answer else None,
            last_channel=state.last_channel,
        )
        if workflow.patched(PATCH_ONE_CLOSING):
            feedback = self._feedback(outcome) if workflow.patched(PATCH_DISPUTES) else None
            await workflow.execute_activity_method(
                ClosingActivities.record_closing,
                ClosingInput(closing, feedback),
                start_to_close_timeout=QUICK,
                retry_policy=SEND_RETRY,
            )
            return
        # Before that patch: two activities, the patch asked between them (recorded histories).
        await self.write_after_commit(RecordActivities.record_outcome, closing)
        if workflow.patched(PATCH_DISPUTES):
            feedback = self._feedback(outcome)
            await self.write_after_commit(RiskFeedbackActivities.record_risk_feedback, feedback)

    def _feedback(self, outcome: Outcome) -> RiskFeedbackInput:
        """Risk feedback: the buyer's (and device's) history for the next refund's score."""
        state = self._s
        resolution = state.resolution.resolution if state.resolution else None
        decisive = state.dispute.value or state.answer.value
        return RiskFeedbackInput(
            state.params.refund_id, outcome, resolution, decisive.action if decisive else None
        )
