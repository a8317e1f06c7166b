"""RefundWatchWorkflow: one per tracked refund, watching its deadline and escalating.

Pure orchestration. Time comes from ``workflow.now()``, waits are ``wait_condition`` with a
timeout, all I/O happens in activities. Messages in (signals, updates) only change the state
in :class:`~workflows.watch.state.WatchState`; the run loop reads it and decides. Whether a
merchant's answer or evidence counts is decided by domain/answers.py, here and nowhere else.

The phases live in workflows/watch/: the ladder (escalation, steps), the dispute, and the
bookkeeping they share (records). Names are pinned (workflow, signals, updates, queries,
activities) so recorded histories replay: see tests/test_replay.py.
"""

from __future__ import annotations

from datetime import datetime

from temporalio import workflow
from temporalio.exceptions import ApplicationError

with workflow.unsafe.imports_passed_through():
    # Every module defining a type this workflow decodes is imported here, in the sandbox: its
    # string annotations are resolved through the sandbox's sys.modules (policy is in the input).
    import activities.types  # noqa: F401  (see above)
    import domain.call_times  # HourSlot: the call_odds local activity returns them
    import domain.policy  # noqa: F401
    from activities.records import RecordActivities
    from activities.types import AnswerRecord, ResponseInput
    from domain.answers import Refusal, judge_answer, judge_evidence
    from domain.vocabulary import DISPUTING, Channel, DeliveryState, Outcome, Stage
    from notifier.twilio_words import answerer, delivery_state
    from platform_webhooks.types import EVIDENCE_MISSED
    from workflows import search_attributes as sa
    from workflows.inputs import (
        AnswerTaken,
        AnswerUpdate,
        DeadlineMove,
        DeliveryReport,
        EvidenceCheck,
        EvidenceSubmitted,
        EvidenceVerdict,
        InAppAnswer,
        MerchantAnswer,
        NotificationStatus,
        RefundWatchInput,
        ResolutionEvent,
        WatchStatus,
    )
    from workflows.watch.dispute import Dispute
    from workflows.watch.escalation import Escalation
    from workflows.watch.records import (
        PATCH_LATE_RESOLUTION,
        PATCH_MORE_EVIDENCE,
        PATCH_SMS_CHECK_SETTLED,
        PATCH_STORED_RESOLUTION,
        QUICK,
        SEND_RETRY,
        Records,
    )
    from workflows.watch.state import WatchState
    from workflows.watch.steps import Steps

__all__ = ["ANSWER_REFUSED", "RefundWatchWorkflow"]

# The ApplicationError type of a refused answer; its one detail is the domain Refusal.
ANSWER_REFUSED = "AnswerRefused"
# Stages before any call started: only then does a failed SMS bring the next step forward.
_BEFORE_CALLS = frozenset({Stage.WATCHING, Stage.IN_APP_SENT, Stage.SMS_SENT})
_SMS_FINAL = DeliveryState.final_for(Channel.SMS)


@workflow.defn(name="RefundWatchWorkflow")
class RefundWatchWorkflow:
    @workflow.init
    def __init__(self, params: RefundWatchInput) -> None:
        self._s = WatchState.start(params)
        self._records = Records(self._s)
        self._escalation = Escalation(self._s, self._records)
        self._steps = Steps(self._s, self._records, self._sleep_for_retry)
        self._dispute = Dispute(self._s, self._records, self._escalation)

    # ----------------------------------------------------------------- answers
    # The Update's name is the method's (``name=`` would lose the result type in the SDK's
    # typing); tests/test_replay.py pins every name, so a rename cannot slip through.
    @workflow.update
    async def answer(self, request: AnswerUpdate) -> AnswerTaken:
        """A merchant's answer from any channel: recorded once it counts, then applied."""
        earlier = self._s.answers_taken.get(request.source_event_id)
        if earlier is not None:
            return AnswerTaken(earlier.recorded, duplicate=True)
        await self._records.write(
            RecordActivities.record_answer,
            AnswerRecord(
                self._s.params.refund_id,
                request.action,
                request.channel,
                request.source_event_id,
                request.raw or request.action,
            ),
        )
        at = request.at or workflow.now()
        self.merchant_answered(
            MerchantAnswer(request.action, request.channel, request.source_event_id, at)
        )
        taken = AnswerTaken(self._standing(request.action))
        self._s.answers_taken[request.source_event_id] = taken
        return taken

    @answer.validator
    def _validate_answer(self, request: AnswerUpdate) -> None:
        if request.source_event_id in self._s.answers_taken:
            return  # a repeat gets the first answer's result
        self._refuse_unless_counts(request.merchant_id, request.action)

    @workflow.signal(name="merchant_answered")
    def merchant_answered(self, answer: MerchantAnswer) -> None:
        """Apply an answer that is already recorded: the first stops the escalation; a dispute
        (which may follow "I'll handle it") opens the dispute phase. The Updates call this once
        they have recorded theirs; as a signal it is how histories recorded before the
        ``answer`` Update received keypad and SMS answers (the API had recorded them)."""
        state = self._s
        if answer.source_event_id in state.seen:
            return
        facts = state.facts(closed_by_resolution=False)
        refusal = judge_answer(facts, facts.merchant_id, answer.action)
        if refusal == Refusal.UNKNOWN_ACTION:
            return
        state.seen.add(answer.source_event_id)
        if refusal is not None:
            return
        if state.answer.value is None:
            state.answer.value = answer
        if answer.action in DISPUTING and state.dispute.value is None:
            state.dispute.value = answer

    @workflow.update
    async def answer_in_app(self, answer: InAppAnswer) -> str:
        """The in-app answer of histories recorded before the ``answer`` Update."""
        source = f"in_app:{self._s.params.refund_id}:{answer.request_id}"
        await self._records.write(
            RecordActivities.record_in_app_response,
            ResponseInput(self._s.params.refund_id, answer.action, source),
        )
        self.merchant_answered(
            MerchantAnswer(answer.action, Channel.IN_APP, source, workflow.now())
        )
        return self._standing(answer.action)

    @answer_in_app.validator
    def _validate_in_app(self, answer: InAppAnswer) -> None:
        self._refuse_unless_counts(answer.merchant_id, answer.action)

    def _refuse_unless_counts(self, merchant_id: str, action: str) -> None:
        """Raise (refusing the Update before it enters history) unless the answer counts; the
        details carry the domain Refusal and the standing dispute, for the reply."""
        facts = self._s.facts()
        refusal = judge_answer(facts, merchant_id, action)
        if refusal is not None:
            dispute = facts.dispute or ""
            raise ApplicationError(refusal.value, refusal.value, dispute, type=ANSWER_REFUSED)

    def _standing(self, action: str) -> str:
        """The answer that stands after ``action``: the dispute when one is open."""
        state = self._s
        if action in DISPUTING and state.dispute.value is not None:
            return state.dispute.value.action
        return state.answer.value.action if state.answer.value else action

    # ----------------------------------------------------------------- evidence
    @workflow.query(name="evidence_verdict")
    def evidence_verdict(self, check: EvidenceCheck) -> EvidenceVerdict:
        """Would evidence from this merchant, at ``check.at``, count? (asked before storing)"""
        refusal = judge_evidence(self._s.facts(), check.merchant_id, check.at)
        return EvidenceVerdict(
            refusal.value if refusal else None, self._s.stage, self._s.evidence_due
        )

    @workflow.signal(name="evidence_submitted")
    def evidence_submitted(self, evidence: EvidenceSubmitted) -> None:
        """Evidence the API stored; the run loop judges it against the window."""
        state = self._s
        key = f"evidence:{evidence.evidence_id}"
        if key in state.seen or state.outcome is not None:
            return
        state.seen.add(key)
        if state.evidence.value is None and state.evidence_due is not None:
            state.evidence.value = evidence
        elif state.evidence.value is not None and workflow.patched(PATCH_MORE_EVIDENCE):
            state.more_evidence.append(evidence)

    # ----------------------------------------------------------------- the platform, providers
    @workflow.signal(name="resolve")
    def resolve(self, resolution: ResolutionEvent) -> None:
        if self._s.resolution is None and self._s.outcome is None:
            self._s.resolution = resolution

    @workflow.signal(name="move_deadline")
    def move_deadline(self, move: DeadlineMove) -> None:
        state = self._s
        if move.event_id in state.seen or state.outcome is not None:
            return
        state.seen.add(move.event_id)
        state.deadline = move.deadline
        state.quiet = list(move.quiet_windows)
        state.replan = True

    @workflow.signal(name="delivery_reported")
    def delivery_reported(self, report: DeliveryReport) -> None:
        state = self._s
        key = f"{report.idempotency_key}:{report.state}"
        if key in state.seen:
            return
        state.seen.add(key)
        state.statuses[report.idempotency_key] = report
        check = state.sms_check
        if (
            check is not None
            and check.idempotency_key == report.idempotency_key
            and DeliveryState(report.state) in _SMS_FINAL
            and workflow.patched(PATCH_SMS_CHECK_SETTLED)
        ):
            state.sms_check = None  # nothing left to look up: a sleep for it ends (news)
        # Only an SMS that failed before any call started brings the next step (a call) forward;
        # a late callback must not pull the final call in.
        failed = report.channel == Channel.SMS and DeliveryState(report.state).sms_failed
        if failed and state.stage in _BEFORE_CALLS:
            code = f" (error {report.error_code})" if report.error_code else ""
            state.advance_reason = f"SMS {report.state}{code}"

    @workflow.signal(name="notification_status")
    def notification_status(self, status: NotificationStatus) -> None:
        """A raw provider status (histories before ``delivery_reported``), mapped as the
        webhook edge maps it."""
        state = delivery_state(status.status)
        if state is None:
            return
        heard_by = answerer(status.answered_by)
        self.delivery_reported(
            DeliveryReport(
                status.idempotency_key,
                status.channel,
                state,
                status.error_code,
                heard_by.value if heard_by else None,
            )
        )

    @workflow.query(name="status")
    def status(self) -> WatchStatus:
        state = self._s
        upcoming = state.queue[0] if state.queue else None
        evidence = state.evidence.value
        return WatchStatus(
            refund_id=state.params.refund_id,
            stage=state.stage,
            deadline=state.deadline,
            answer=state.answer.value.action if state.answer.value else None,
            resolution=state.resolution.resolution if state.resolution else None,
            outcome=state.outcome,
            steps_done=list(state.done),
            next_step=upcoming.spec.name if upcoming else None,
            next_step_at=upcoming.at if upcoming else None,
            dispute=state.dispute.value.action if state.dispute.value else None,
            evidence_due=state.evidence_due,
            evidence_id=evidence.evidence_id if evidence and state.evidence.handled else None,
        )

    # ----------------------------------------------------------------- the run loop
    @workflow.run
    async def run(self, params: RefundWatchInput) -> str:
        state = self._s
        workflow.upsert_search_attributes([sa.STAGE.value_set(state.stage)])
        await self._escalation.plan("planned")
        while True:
            if state.resolution is not None:
                outcome = self._resolution_outcome(state.resolution)
                break
            if workflow.now() >= state.deadline:
                if await self._stored_resolution():
                    continue  # decided before the deadline or not: its time says (above)
                outcome = Outcome.TIMED_OUT
                break
            if state.evidence.waiting:
                assert state.evidence.value is not None
                await self._dispute.take_evidence(state.evidence.value)
            if state.more_evidence:
                await self._dispute.take_more_evidence()
            if state.sms_check is not None and workflow.now() >= state.sms_check.at:
                await self._steps.check_sms(self.delivery_reported)
            if self._steps.evidence_missed():
                await self._records.tell(EVIDENCE_MISSED, "1")
                outcome = Outcome.EVIDENCE_MISSED
                break
            if state.replan:
                state.replan = False
                workflow.upsert_search_attributes([sa.DEADLINE.value_set(state.deadline)])
                await self._escalation.plan("replanned")
            if state.answer.waiting:
                await self._escalation.enter_acknowledged_watch()
            if state.dispute.waiting:
                assert state.dispute.value is not None
                await self._dispute.open(state.dispute.value)
            if state.advance_reason is not None:
                await self._escalation.advance_next_step()
            target = state.queue[0].at if state.queue else state.deadline
            if state.awaiting_evidence and state.evidence_due is not None:
                target = min(target, state.evidence_due)
            if state.sms_check is not None:
                target = min(target, state.sms_check.at)
            if not await self._sleep_until(target, wake_on_answer=not state.acknowledged):
                continue
            if state.queue and state.queue[0].at <= workflow.now():
                await self._steps.run(state.queue.pop(0))
        await self._records.finish(outcome)
        await workflow.wait_condition(workflow.all_handlers_finished)
        return outcome

    async def _stored_resolution(self) -> bool:
        """The deadline fired with no resolution heard: take the one the API stored, if any
        (its signal may still be on the way). True if one was taken."""
        if not workflow.patched(PATCH_STORED_RESOLUTION):
            return False
        stored = await workflow.execute_local_activity_method(
            RecordActivities.read_stored_resolution,
            self._s.params.refund_id,
            start_to_close_timeout=QUICK,
            retry_policy=SEND_RETRY,
        )
        if stored is None or self._s.resolution is not None:
            return self._s.resolution is not None
        self._s.resolution = ResolutionEvent(stored.resolution, stored.event_id, stored.at)
        await self._records.audit("resolution.read_at_deadline", {"event_id": stored.event_id})
        return True

    def _resolution_outcome(self, resolution: ResolutionEvent) -> Outcome:
        """A platform decision taken at or after the deadline is the auto-approval we exist to
        prevent: it counts as a timeout even if its signal beat the deadline timer here."""
        if workflow.patched(PATCH_LATE_RESOLUTION) and resolution.at >= self._s.deadline:
            return Outcome.TIMED_OUT
        return Outcome.RESOLVED

    async def _sleep_for_retry(self, until: datetime) -> bool:
        return await self._sleep_until(until, wake_on_answer=True)

    async def _sleep_until(self, target: datetime, *, wake_on_answer: bool) -> bool:
        """Sleep until ``target`` (never past the deadline). False if woken by news."""
        state = self._s
        until = min(target, state.deadline)
        delay = (until - workflow.now()).total_seconds()
        if delay <= 0:
            return True
        for_check = state.sms_check is not None and until == state.sms_check.at

        def news() -> bool:
            return (
                (for_check and state.sms_check is None)  # its report came: no look-up
                or state.resolution is not None
                or state.replan
                or state.advance_reason is not None
                or (wake_on_answer and self._steps.interrupted())
                or state.dispute.waiting
                or state.evidence.waiting
                or bool(state.more_evidence)
            )

        try:
            await workflow.wait_condition(news, timeout=delay)
        except TimeoutError:
            return True
        return False
