"""RefundWatchWorkflow: one per tracked refund, watching its deadline and escalating.

Pure orchestration. Time comes from ``workflow.now()``, waits are ``wait_condition`` with a
timeout, all I/O happens in activities. Signals and the update only change state; the run loop
reads that state and decides what happens next.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError

with workflow.unsafe.imports_passed_through():
    from activities.types import (
        AuditInput,
        DisputeInput,
        NoticeInput,
        OutcomeInput,
        RejectionInput,
        ResponseInput,
        RiskFeedbackInput,
        SendInput,
        SendResult,
        SendStatus,
    )
    from workflows import search_attributes as sa
    from workflows.inputs import (
        DeadlineMove,
        EvidenceSubmitted,
        InAppAnswer,
        MerchantAnswer,
        NotificationStatus,
        RefundWatchInput,
        Resolution,
        WatchStatus,
    )
    from workflows.ladder import LadderPlan, PlannedStep, plan_ladder
    from workflows.outbound import tell_platform
    from workflows.policy import StepSpec

__all__ = ["ANSWER_ACTIONS", "RefundWatchWorkflow", "workflow_id_for"]

ANSWER_ACTIONS = frozenset({"handle_now", "dispute", "acknowledge", "reject"})
# Answers that say "this refund is abnormal": they open the dispute phase.
_DISPUTING = frozenset({"dispute", "reject"})
_CALL_FINAL = frozenset({"completed", "busy", "no-answer", "failed", "canceled"})
_SMS_FAILED = frozenset({"failed", "undelivered"})
_BEFORE_CALLS = frozenset({"watching", "in_app_sent", "sms_sent"})
_MAX_CONTACTS = 10

_SEND_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(seconds=30),
)
_QUICK = timedelta(seconds=30)
# Workflow changes that alter the commands of running watches; see tests/test_replay.py.
_PATCH_LATE_RESOLUTION = "late-resolution-is-timeout"
_PATCH_DISPUTES = "dispute-phase"  # disputes, evidence, rejections, platform webhooks, feedback
_PATCH_LOCAL_BOOKKEEPING = "local-bookkeeping"  # audit/notice/outcome writes as local activities


def workflow_id_for(refund_id: str) -> str:
    return f"refund-{refund_id}"


@workflow.defn
class RefundWatchWorkflow:
    @workflow.init
    def __init__(self, params: RefundWatchInput) -> None:
        self._in = params
        self._deadline = params.deadline
        self._quiet = list(params.quiet_windows)
        self._answer: MerchantAnswer | None = None
        self._resolution: Resolution | None = None
        self._replan = False
        self._advance_reason: str | None = None
        self._seen: set[str] = set()
        self._statuses: dict[str, NotificationStatus] = {}
        self._stage = "watching"
        self._done: list[str] = []
        self._queue: list[PlannedStep] = []
        self._acknowledged = False
        self._last_channel: str | None = None
        self._outcome: str | None = None
        self._audit_seq = 0
        # The dispute phase: a dispute or one-click rejection, then evidence or its deadline.
        self._dispute: MerchantAnswer | None = None
        self._dispute_taken = False
        self._evidence_due: datetime | None = None
        self._evidence: EvidenceSubmitted | None = None
        self._evidence_taken = False

    # ----------------------------------------------------------------- messages in
    @workflow.signal
    def merchant_answered(self, answer: MerchantAnswer) -> None:
        if answer.source_event_id in self._seen or answer.action not in ANSWER_ACTIONS:
            return
        self._seen.add(answer.source_event_id)
        if self._outcome is not None or (answer.action == "reject" and not self._in.abnormal):
            return
        if self._answer is None:
            self._answer = answer
        if answer.action in _DISPUTING and self._dispute is None:
            # A dispute may follow "I'll handle it": the merchant looked and found it abnormal.
            self._dispute = answer

    @workflow.update
    async def answer_in_app(self, answer: InAppAnswer) -> str:
        # The validator below has already refused anything that must not be written.
        source = f"in_app:{self._in.refund_id}:{answer.request_id}"
        await self._activity(
            "record_in_app_response", ResponseInput(self._in.refund_id, answer.action, source)
        )
        self.merchant_answered(MerchantAnswer(answer.action, "in_app", source, workflow.now()))
        if answer.action in _DISPUTING and self._dispute is not None:
            return self._dispute.action
        return self._answer.action if self._answer else answer.action

    @answer_in_app.validator
    def _validate_in_app(self, answer: InAppAnswer) -> None:
        if answer.merchant_id != self._in.merchant_id:
            raise ValueError("this refund belongs to another merchant")
        if self._outcome is not None or self._resolution is not None:
            raise ValueError("this refund is already closed")
        if answer.action not in ANSWER_ACTIONS:
            raise ValueError(f"unknown action {answer.action!r}")
        if answer.action == "reject" and not self._in.abnormal:
            raise ValueError(
                "one-click rejection is only for refunds the risk gate marked abnormal; "
                "dispute it and submit evidence instead"
            )
        if answer.action in _DISPUTING and self._dispute is not None:
            raise ValueError(f"this refund is already under a {self._dispute.action}")

    @workflow.signal
    def evidence_submitted(self, evidence: EvidenceSubmitted) -> None:
        key = f"evidence:{evidence.evidence_id}"
        if key in self._seen or self._outcome is not None:
            return
        self._seen.add(key)
        if self._evidence is None and self._evidence_due is not None:
            self._evidence = evidence

    @workflow.signal
    def resolve(self, resolution: Resolution) -> None:
        if self._resolution is None and self._outcome is None:
            self._resolution = resolution

    @workflow.signal
    def move_deadline(self, move: DeadlineMove) -> None:
        if move.event_id in self._seen or self._outcome is not None:
            return
        self._seen.add(move.event_id)
        self._deadline = move.deadline
        self._quiet = list(move.quiet_windows)
        self._replan = True

    @workflow.signal
    def notification_status(self, status: NotificationStatus) -> None:
        key = f"{status.idempotency_key}:{status.status}"
        if key in self._seen:
            return
        self._seen.add(key)
        self._statuses[status.idempotency_key] = status
        # Only an SMS that failed before any call started brings the next step (a call) forward;
        # a late callback must not pull the final call in.
        if (
            status.channel == "sms"
            and status.status in _SMS_FAILED
            and self._stage in _BEFORE_CALLS
        ):
            code = f" (error {status.error_code})" if status.error_code else ""
            self._advance_reason = f"SMS {status.status}{code}"

    @workflow.query
    def status(self) -> WatchStatus:
        upcoming = self._queue[0] if self._queue else None
        return WatchStatus(
            refund_id=self._in.refund_id,
            stage=self._stage,
            deadline=self._deadline,
            answer=self._answer.action if self._answer else None,
            resolution=self._resolution.resolution if self._resolution else None,
            outcome=self._outcome,
            steps_done=list(self._done),
            next_step=upcoming.spec.name if upcoming else None,
            next_step_at=upcoming.at if upcoming else None,
            dispute=self._dispute.action if self._dispute else None,
            evidence_due=self._evidence_due,
            evidence_id=(
                self._evidence.evidence_id if self._evidence and self._evidence_taken else None
            ),
        )

    # ----------------------------------------------------------------- the run loop
    @workflow.run
    async def run(self, params: RefundWatchInput) -> str:
        workflow.upsert_search_attributes([sa.STAGE.value_set(self._stage)])
        await self._plan("planned")
        while True:
            if self._resolution is not None:
                outcome = self._resolution_outcome(self._resolution)
                break
            if workflow.now() >= self._deadline:
                outcome = "timed_out"
                break
            if self._evidence is not None and not self._evidence_taken:
                await self._take_evidence(self._evidence)
            if self._evidence_missed():
                await self._tell("refund.evidence_missed", "1")
                outcome = "evidence_missed"
                break
            if self._replan:
                self._replan = False
                workflow.upsert_search_attributes([sa.DEADLINE.value_set(self._deadline)])
                await self._plan("replanned")
            if self._answer is not None and not self._acknowledged:
                await self._enter_acknowledged_watch()
            if self._dispute is not None and not self._dispute_taken:
                await self._open_dispute(self._dispute)
            if self._advance_reason is not None:
                await self._advance_next_step()
            target = self._queue[0].at if self._queue else self._deadline
            if self._evidence_due is not None and not self._evidence_taken:
                target = min(target, self._evidence_due)
            if not await self._sleep_until(target, wake_on_answer=not self._acknowledged):
                continue
            if self._queue and self._queue[0].at <= workflow.now():
                await self._run_step(self._queue.pop(0))
        await self._finish(outcome)
        await workflow.wait_condition(workflow.all_handlers_finished)
        return outcome

    def _resolution_outcome(self, resolution: Resolution) -> str:
        """A platform decision taken at or after the deadline is the auto-approval we exist to
        prevent: it counts as a timeout even if its signal beat the deadline timer here."""
        if workflow.patched(_PATCH_LATE_RESOLUTION) and resolution.at >= self._deadline:
            return "timed_out"
        return "resolved"

    async def _plan(self, kind: str) -> None:
        plan: LadderPlan = plan_ladder(
            self._in.policy,
            risk_level=self._in.risk_level,
            now=workflow.now(),
            deadline=self._deadline,
            done=frozenset(self._done),
            quiet=[(w.start, w.end) for w in self._quiet],
        )
        self._queue = list(plan.steps)
        if self._acknowledged:
            self._queue = self._after_answer_queue()
        await self._audit(
            f"ladder.{kind}",
            {
                "deadline": self._deadline.isoformat(),
                "compression": round(plan.compression, 4),
                "steps": [{"step": s.spec.name, "at": s.at.isoformat()} for s in self._queue],
            },
        )
        if self._acknowledged:
            return
        for skip in plan.skipped:
            await self._audit("step.skipped", {"step": skip.spec.name, "reason": skip.reason})
        for step in plan.steps:
            if step.note:
                detail: dict[str, object] = {
                    "step": step.spec.name,
                    "at": step.at.isoformat(),
                    "reason": step.note,
                }
                await self._audit("step.quiet_hours", detail)

    def _after_answer_queue(self) -> list[PlannedStep]:
        if self._dispute_taken and self._evidence_due is not None:
            return [] if self._evidence_taken else self._evidence_queue()
        return self._reminder_queue()

    def _reminder_queue(self) -> list[PlannedStep]:
        at = self._deadline - timedelta(seconds=self._in.policy.acknowledged_reminder_s)
        if at <= workflow.now() or "acknowledged_reminder" in self._done:
            return []
        return [PlannedStep(StepSpec("acknowledged_reminder", "in_app"), at)]

    async def _enter_acknowledged_watch(self) -> None:
        assert self._answer is not None
        self._acknowledged = True
        cancelled = [step.spec.name for step in self._queue]
        self._queue = self._reminder_queue()
        disputing = self._answer.action in _DISPUTING and self._patched(_PATCH_DISPUTES)
        if not disputing:
            await self._set_stage("acknowledged")
        await self._audit(
            "escalation.stopped",
            {
                "answer": self._answer.action,
                "channel": self._answer.channel,
                "cancelled_steps": cancelled,
                "lighter_watch": [] if disputing else [s.spec.name for s in self._queue],
            },
        )
        if disputing:
            self._queue = []
        elif self._answer.action == "handle_now" and self._patched(_PATCH_DISPUTES):
            await self._tell("refund.merchant_handling", "1")

    # ----------------------------------------------------------------- the dispute phase
    async def _open_dispute(self, answer: MerchantAnswer) -> None:
        """ "This refund is abnormal": evidence is due within the window; a one-click rejection
        brings its own evidence (the risk gate's reasons)."""
        self._dispute_taken = True
        if not self._patched(_PATCH_DISPUTES):
            return  # a watch that started before disputes existed stays acknowledged
        window = self._in.evidence_window_s or self._in.policy.dispute.evidence_window_s
        self._evidence_due = workflow.now() + timedelta(seconds=window)
        stage = "rejected" if answer.action == "reject" else "disputed"
        await self._activity(
            "record_dispute",
            DisputeInput(
                self._in.refund_id,
                self._in.merchant_id,
                self._wid(),
                answer.action,
                answer.channel,
                self._evidence_due,
            ),
        )
        await self._set_stage(stage)
        if answer.action == "reject":
            evidence_id: int = await workflow.execute_activity(
                "record_rejection_evidence",
                RejectionInput(
                    self._in.refund_id, self._in.merchant_id, self._wid(), answer.source_event_id
                ),
                result_type=int,
                start_to_close_timeout=_QUICK,
                retry_policy=_SEND_RETRY,
            )
            self._evidence = EvidenceSubmitted(evidence_id, "risk_reasons", "risk_gate", answer.at)
            self._evidence_taken = True
            self._queue = []
            await self._tell("refund.rejected", str(evidence_id), evidence_id)
            return
        await self._tell("refund.disputed", "1")
        self._queue = self._evidence_queue()
        await self._audit(
            "evidence.planned",
            {
                "evidence_due": self._evidence_due.isoformat(),
                "steps": [{"step": s.spec.name, "at": s.at.isoformat()} for s in self._queue],
            },
        )

    def _evidence_queue(self) -> list[PlannedStep]:
        assert self._evidence_due is not None
        policy = self._in.policy
        plan = plan_ladder(
            replace(policy, steps=list(policy.dispute.steps)),
            risk_level=self._in.risk_level,
            now=workflow.now(),
            deadline=min(self._evidence_due, self._deadline),
            done=frozenset(self._done),
            quiet=[(w.start, w.end) for w in self._quiet],
        )
        return list(plan.steps)

    async def _take_evidence(self, evidence: EvidenceSubmitted) -> None:
        assert self._evidence_due is not None
        if evidence.at > self._evidence_due:
            # Submitted after the window closed: it stays on record, but the window is missed.
            self._evidence = None
            detail = {"evidence_id": evidence.evidence_id, "reason": "after the evidence window"}
            await self._audit("evidence.late", detail)
            return
        self._evidence_taken = True
        self._queue = []
        await self._set_stage("evidence_submitted")
        evidence_id = evidence.evidence_id
        await self._tell("refund.evidence_submitted", str(evidence_id), evidence_id)

    def _evidence_missed(self) -> bool:
        return (
            self._evidence_due is not None
            and not self._evidence_taken
            and workflow.now() >= self._evidence_due
        )

    async def _tell(self, kind: str, key: str, evidence_id: int | None = None) -> None:
        """Tell the platform (signed webhook, delivered by its own workflow; not awaited)."""
        event_id = await tell_platform(
            kind, self._in.refund_id, self._in.merchant_id, key, evidence_id=evidence_id
        )
        await self._audit("platform.told", {"type": kind, "event_id": event_id})

    def _patched(self, patch_id: str) -> bool:
        return workflow.patched(patch_id)

    async def _advance_next_step(self) -> None:
        reason = self._advance_reason
        self._advance_reason = None
        if not self._queue or self._acknowledged:
            return
        step = self._queue[0]
        now = workflow.now()
        if step.at > now:
            self._queue[0] = replace(step, at=now)
            await self._audit(
                "step.moved_earlier",
                {"step": step.spec.name, "was": step.at.isoformat(), "reason": reason},
            )

    async def _sleep_until(self, target: datetime, *, wake_on_answer: bool) -> bool:
        """Sleep until ``target`` (never past the deadline). False if woken by news."""
        until = min(target, self._deadline)
        delay = (until - workflow.now()).total_seconds()
        if delay <= 0:
            return True

        def news() -> bool:
            return (
                self._resolution is not None
                or self._replan
                or self._advance_reason is not None
                or (wake_on_answer and self._interrupted())
                or (self._dispute is not None and not self._dispute_taken)
                or (self._evidence is not None and not self._evidence_taken)
            )

        try:
            await workflow.wait_condition(news, timeout=delay)
        except TimeoutError:
            return True
        return False

    # ----------------------------------------------------------------- steps
    async def _run_step(self, step: PlannedStep) -> None:
        spec = step.spec
        self._done.append(spec.name)
        if spec.channel == "in_app":
            await self._in_app(spec)
        elif spec.channel == "sms":
            await self._sms(spec)
        elif spec.channel == "call":
            await self._calls(spec)

    def _awaiting_evidence(self) -> bool:
        return self._evidence_due is not None and not self._evidence_taken

    def _interrupted(self) -> bool:
        """News that ends the current step: an answer, or, while evidence is awaited, the
        evidence itself (the dispute answer is what started that phase)."""
        if self._awaiting_evidence():
            return self._evidence is not None
        return self._answer is not None

    def _purpose(self, spec: StepSpec) -> str:
        if self._awaiting_evidence():
            return "evidence"
        if self._acknowledged:
            return "reminder"
        return "final" if self._is_final(spec) else "initial"

    async def _in_app(self, spec: StepSpec) -> None:
        purpose = "initial" if self._purpose(spec) == "final" else self._purpose(spec)
        await self._activity(
            "notify_in_app",
            NoticeInput(self._in.refund_id, self._in.merchant_id, self._wid(), spec.name, purpose),
        )
        self._last_channel = "in_app"
        if not self._acknowledged:
            await self._set_stage("in_app_sent")

    async def _sms(self, spec: StepSpec) -> None:
        result = await self._send("send_sms", spec, contact_index=0, attempt=1)
        if result is None:
            return
        if result.status == SendStatus.ACCEPTED:
            self._last_channel = "sms"
            if not self._acknowledged:
                await self._set_stage("sms_sent")
        elif result.status != SendStatus.THROTTLED:
            # Undeliverable, opted out, no number: the next channel should not wait.
            self._advance_reason = f"SMS not sent: {result.status}"

    async def _calls(self, spec: StepSpec) -> None:
        if not self._acknowledged:
            await self._set_stage("final_call" if self._is_final(spec) else "calling")
        limit = self._in.policy.contacts_for(self._in.risk_level) or _MAX_CONTACTS
        for contact_index in range(min(limit, _MAX_CONTACTS)):
            for attempt in range(1, spec.retries + 2):
                if self._should_stop_calling():
                    return
                result = await self._send("place_call", spec, contact_index, attempt)
                if result is None or result.status in (SendStatus.NO_CONTACT, SendStatus.CLOSED):
                    return
                if result.status != SendStatus.ACCEPTED:
                    break  # final error for this number: try the next contact
                self._last_channel = "call"
                call = await self._await_call(result.idempotency_key)
                if (
                    call is not None
                    and call.status == "completed"
                    and (call.answered_by in (None, "human", "unknown"))
                ):
                    return  # a person heard the message
                if attempt <= spec.retries:
                    backoff = spec.retry_backoff_s * (2 ** (attempt - 1))
                    target = workflow.now() + timedelta(seconds=backoff)
                    await self._sleep_until(target, wake_on_answer=True)

    def _is_final(self, spec: StepSpec) -> bool:
        return spec.name == self._in.policy.steps[-1].name

    def _should_stop_calling(self) -> bool:
        return (
            self._resolution is not None
            or self._interrupted()
            or workflow.now() >= self._deadline
            or (self._awaiting_evidence() and self._evidence_missed())
        )

    async def _await_call(self, key: str) -> NotificationStatus | None:
        def settled() -> bool:
            status = self._statuses.get(key)
            return (
                (status is not None and status.status in _CALL_FINAL)
                or self._interrupted()
                or self._resolution is not None
            )

        timeout = min(
            float(self._in.policy.call.result_timeout_s),
            max(0.0, (self._deadline - workflow.now()).total_seconds()),
        )
        try:
            await workflow.wait_condition(settled, timeout=timeout)
        except TimeoutError:
            await self._audit("call.no_result", {"idempotency_key": key, "waited_s": timeout})
            return None
        return self._statuses.get(key)

    async def _send(
        self, activity: str, spec: StepSpec, contact_index: int, attempt: int
    ) -> SendResult | None:
        request = SendInput(
            self._in.refund_id,
            self._in.merchant_id,
            self._wid(),
            spec.name,
            contact_index,
            attempt,
            purpose=self._purpose(spec),
        )
        try:
            result: SendResult = await workflow.execute_activity(
                activity,
                request,
                result_type=SendResult,
                # A send may wait its turn in the shared rate limit (heartbeating meanwhile).
                start_to_close_timeout=timedelta(minutes=10),
                heartbeat_timeout=timedelta(seconds=30),
                schedule_to_close_timeout=timedelta(minutes=20),
                retry_policy=_SEND_RETRY,
            )
            return result
        except ActivityError as err:
            await self._audit(
                "step.failed",
                {"step": spec.name, "activity": activity, "error": str(err.cause or err)},
            )
            return None

    # ----------------------------------------------------------------- bookkeeping
    async def _finish(self, outcome: str) -> None:
        self._outcome = outcome
        self._queue = []
        await self._set_stage("closed")
        workflow.upsert_search_attributes([sa.OUTCOME.value_set(outcome)])
        await self._activity(
            "record_outcome",
            OutcomeInput(
                self._in.refund_id,
                self._in.merchant_id,
                self._wid(),
                outcome,
                resolution=self._resolution.resolution if self._resolution else None,
                answer=self._answer.action if self._answer else None,
                last_channel=self._last_channel,
            ),
        )
        if self._patched(_PATCH_DISPUTES):
            # Risk feedback: the buyer's (and device's) history for the next refund's score.
            decisive = self._dispute or self._answer
            await self._activity(
                "record_risk_feedback",
                RiskFeedbackInput(
                    self._in.refund_id,
                    outcome,
                    self._resolution.resolution if self._resolution else None,
                    decisive.action if decisive else None,
                ),
            )

    async def _set_stage(self, stage: str) -> None:
        if stage == self._stage:
            return
        self._stage = stage
        workflow.upsert_search_attributes([sa.STAGE.value_set(stage)])
        await self._audit("stage.changed", {"stage": stage}, stage=stage)

    async def _audit(self, kind: str, detail: dict[str, object], stage: str | None = None) -> None:
        self._audit_seq += 1
        await self._activity(
            "record_audit",
            AuditInput(
                self._in.refund_id,
                self._in.merchant_id,
                kind,
                dedup_key=f"{self._wid()}:audit:{self._audit_seq}",
                detail=detail,
                stage=stage,
            ),
        )

    async def _activity(self, name: str, arg: object) -> None:
        """A quick bookkeeping write (audit, notice, outcome): idempotent by its own key, so it
        runs as a local activity — no activity task round trip through the server, which is
        what bounds a small machine's throughput when many watches step at once."""
        if self._patched(_PATCH_LOCAL_BOOKKEEPING):
            await workflow.execute_local_activity(
                name, arg, start_to_close_timeout=_QUICK, retry_policy=_SEND_RETRY
            )
            return
        await workflow.execute_activity(
            name,
            arg,
            start_to_close_timeout=_QUICK,
            retry_policy=_SEND_RETRY,
        )

    def _wid(self) -> str:
        return workflow.info().workflow_id
