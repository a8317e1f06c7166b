"""Running one ladder step: the in-app notice, the SMS, the calls (retries, then backups).

A call counts as heard when its final report says completed and the answerer was not a
machine; anything else (no answer, busy, voicemail, no report in time) is retried with
backoff, then the next contact is tried.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import replace
from datetime import datetime, timedelta

from temporalio import workflow
from temporalio.exceptions import ActivityError

with workflow.unsafe.imports_passed_through():
    from activities.call_times import CallTimeActivities
    from activities.lookups import LookupActivities
    from activities.notices import NoticeActivities
    from activities.sends import SendActivities
    from activities.types import (
        CallOutcomeInput,
        LookedUp,
        LookupInput,
        NoticeInput,
        SendInput,
        SendResult,
        StageChange,
    )
    from domain.answer_odds import call_outcome
    from domain.ladder import PlannedStep
    from domain.policy import StepSpec
    from domain.vocabulary import (
        Answerer,
        CallOutcome,
        Channel,
        DeliveryState,
        Purpose,
        SendStatus,
        Stage,
    )
    from platform_webhooks.types import NOTICE_CREATED, REMINDER_SENT
    from platform_webhooks.types import STAGE_CHANGED as STAGE_CHANGED_EVENT
    from workflows.inputs import DeliveryReport
    from workflows.watch.records import (
        PATCH_CALL_TIMES,
        PATCH_REPORT_LOOKUP,
        PATCH_STEP_RECORDS,
        SEND_RETRY,
        Records,
    )
    from workflows.watch.state import SmsCheck, WatchState

__all__ = ["MAX_CONTACTS", "Steps"]

MAX_CONTACTS = 10
_CALL_FINAL = DeliveryState.final_for(Channel.CALL)
_SMS_FINAL = DeliveryState.final_for(Channel.SMS)
_LOOKUP_GIVES_UP = timedelta(minutes=2)
# The sleep between call retries (woken by an answer): True if it ran to the end.
Sleep = Callable[[datetime], Awaitable[bool]]


class Steps:
    def __init__(self, state: WatchState, records: Records, sleep: Sleep) -> None:
        self._s = state
        self._records = records
        self._sleep = sleep

    async def run(self, step: PlannedStep) -> None:
        spec = step.spec
        self._s.done.append(spec.name)
        if spec.channel == Channel.IN_APP:
            await self._in_app(spec)
        elif spec.channel == Channel.SMS:
            await self._sms(spec)
        elif spec.channel == Channel.CALL:
            await self._calls(spec)

    def interrupted(self) -> bool:
        """News that ends the current step: an answer, or, while evidence is awaited, the
        evidence itself (the dispute answer is what started that phase)."""
        state = self._s
        if state.awaiting_evidence:
            return state.evidence.value is not None
        return state.answer.value is not None

    def is_final(self, spec: StepSpec) -> bool:
        return spec.name == self._s.params.policy.steps[-1].name

    def _purpose(self, spec: StepSpec) -> Purpose:
        if self._s.awaiting_evidence:
            return Purpose.EVIDENCE
        if self._s.acknowledged:
            return Purpose.REMINDER
        return Purpose.FINAL if self.is_final(spec) else Purpose.INITIAL

    async def _in_app(self, spec: StepSpec) -> None:
        state = self._s
        purpose = self._purpose(spec)
        purpose = Purpose.INITIAL if purpose == Purpose.FINAL else purpose
        params = state.params
        inline = not state.acknowledged and workflow.patched(PATCH_STEP_RECORDS)
        change = self._records.stage_for_activity(Stage.IN_APP_SENT) if inline else None
        notice = NoticeInput(
            params.refund_id,
            params.merchant_id,
            self._records.workflow_id(),
            spec.name,
            purpose,
            stage=change,
        )
        await self._records.write(NoticeActivities.notify_in_app, notice)
        await self._records.tell_notice(NOTICE_CREATED, notice.idempotency_key)
        state.last_channel = Channel.IN_APP
        if change is not None:
            self._records.stage_recorded(change)
            await self._records.tell_notice(STAGE_CHANGED_EVENT, change.stage)
        elif not state.acknowledged and not inline:
            await self._records.set_stage(Stage.IN_APP_SENT)

    async def _sms(self, spec: StepSpec) -> None:
        state = self._s
        inline = not state.acknowledged and workflow.patched(PATCH_STEP_RECORDS)
        change = self._records.stage_for_activity(Stage.SMS_SENT) if inline else None
        result = await self._send(
            SendActivities.send_sms, spec, contact_index=0, attempt=1, stage_on_accept=change
        )
        if result is None:
            return
        if result.status == SendStatus.ACCEPTED:
            state.last_channel = Channel.SMS
            await self._records.tell_notice(REMINDER_SENT, result.idempotency_key)
            if workflow.patched(PATCH_REPORT_LOOKUP):
                wait = timedelta(seconds=state.params.policy.sms.report_timeout_s)
                state.sms_check = SmsCheck(result.idempotency_key, workflow.now() + wait)
            if change is not None:
                self._records.stage_recorded(change)
                await self._records.tell_notice(STAGE_CHANGED_EVENT, change.stage)
            elif not state.acknowledged and not inline:
                await self._records.set_stage(Stage.SMS_SENT)
        elif result.status != SendStatus.THROTTLED:
            # Undeliverable, opted out, no number: the next channel should not wait.
            state.advance_reason = f"SMS not sent: {result.status}"

    async def _calls(self, spec: StepSpec) -> None:
        state = self._s
        if not state.acknowledged:
            final = self.is_final(spec)
            await self._records.set_stage(Stage.FINAL_CALL if final else Stage.CALLING)
        limit = state.params.policy.contacts_for(state.params.risk_level) or MAX_CONTACTS
        for contact_index in range(min(limit, MAX_CONTACTS)):
            for attempt in range(1, spec.retries + 2):
                if self._should_stop_calling():
                    return
                result = await self._send(SendActivities.place_call, spec, contact_index, attempt)
                if result is None or result.status in (SendStatus.NO_CONTACT, SendStatus.CLOSED):
                    return
                if result.status != SendStatus.ACCEPTED:
                    break  # final error for this number: try the next contact
                state.last_channel = Channel.CALL
                await self._records.tell_notice(REMINDER_SENT, result.idempotency_key)
                report = await self._await_call(result.idempotency_key)
                if report is not None and self._answerer_unknown(report):
                    report = await self._with_answerer(report)
                await self._learn(result.idempotency_key, report)
                if report is not None and _heard(report):
                    return  # a person heard the message
                if attempt <= spec.retries:
                    backoff = spec.retry_backoff_s * (2 ** (attempt - 1))
                    await self._sleep(workflow.now() + timedelta(seconds=backoff))

    async def _learn(self, key: str, report: DeliveryReport | None) -> None:
        """Keep how the call ended, by the contact's local hour (learned call times). A call
        the merchant answered on (keypad) ends the wait before its final report: a person."""
        answer = self._s.answer.value
        if report is not None and report.state in _CALL_FINAL:
            outcome = call_outcome(report.state, report.answered_by)
        elif answer is not None and answer.channel == Channel.CALL:
            outcome = CallOutcome.HUMAN
        else:
            outcome = None
        if outcome is None or not workflow.patched(PATCH_CALL_TIMES):
            return
        await self._records.write(
            CallTimeActivities.record_call_outcome,
            CallOutcomeInput(self._s.params.refund_id, key, outcome),
        )

    def _should_stop_calling(self) -> bool:
        state = self._s
        return (
            state.resolution is not None
            or self.interrupted()
            or workflow.now() >= state.deadline
            or (state.awaiting_evidence and self.evidence_missed())
        )

    def evidence_missed(self) -> bool:
        state = self._s
        return state.awaiting_evidence and workflow.now() >= (state.evidence_due or state.deadline)

    async def _await_call(self, key: str) -> DeliveryReport | None:
        state = self._s

        def settled() -> bool:
            status = state.statuses.get(key)
            return (
                (status is not None and status.state in _CALL_FINAL)
                or self.interrupted()
                or state.resolution is not None
            )

        timeout = min(
            float(state.params.policy.call.result_timeout_s),
            max(0.0, (state.deadline - workflow.now()).total_seconds()),
        )
        try:
            await workflow.wait_condition(settled, timeout=timeout)
        except TimeoutError:
            looked = await self._look_up(key) if workflow.patched(PATCH_REPORT_LOOKUP) else None
            if looked is not None and looked.state in _CALL_FINAL:
                # The final callback never came: Twilio's record of the call says how it ended.
                report = DeliveryReport(
                    key, Channel.CALL, looked.state, looked.error_code, looked.answered_by
                )
                state.statuses[key] = report
                await self._records.audit(
                    "call.looked_up", {"idempotency_key": key, "state": looked.state}
                )
                return report
            await self._records.audit(
                "call.no_result", {"idempotency_key": key, "waited_s": timeout}
            )
            return None
        return state.statuses.get(key)

    def _answerer_unknown(self, report: DeliveryReport) -> bool:
        """Completed, detection asked for, but its result never reached us (a lost AMD
        callback): a voicemail must not pass for a person."""
        return (
            report.state == DeliveryState.COMPLETED
            and report.answered_by is None
            and self._s.params.policy.call.machine_detection
            and workflow.patched(PATCH_REPORT_LOOKUP)
        )

    async def _with_answerer(self, report: DeliveryReport) -> DeliveryReport:
        looked = await self._look_up(report.idempotency_key)
        if looked is None or looked.answered_by is None:
            return report
        return replace(report, answered_by=looked.answered_by)

    async def check_sms(self, apply: Callable[[DeliveryReport], None]) -> None:
        """The SMS's report did not come in time: ask the provider, apply what it says."""
        check = self._s.sms_check
        self._s.sms_check = None
        assert check is not None
        known = self._s.statuses.get(check.idempotency_key)
        if known is not None and known.state in _SMS_FINAL:
            return
        looked = await self._look_up(check.idempotency_key)
        if looked is not None and looked.state in _SMS_FINAL:
            key = check.idempotency_key
            apply(DeliveryReport(key, Channel.SMS, looked.state, looked.error_code))
            await self._records.audit(
                "sms.looked_up", {"idempotency_key": key, "state": looked.state}
            )

    async def _look_up(self, key: str) -> LookedUp | None:
        """The provider's own record of the send; None if it cannot be had in time."""
        try:
            return await workflow.execute_activity_method(
                LookupActivities.look_up_send,
                LookupInput(self._s.params.refund_id, key),
                start_to_close_timeout=timedelta(seconds=30),
                schedule_to_close_timeout=_LOOKUP_GIVES_UP,
                retry_policy=SEND_RETRY,
            )
        except ActivityError as err:
            await self._records.audit(
                "send.lookup_failed", {"idempotency_key": key, "error": str(err.cause or err)}
            )
            return None

    async def _send(
        self,
        activity: Callable[[SendActivities, SendInput], Awaitable[SendResult]],
        spec: StepSpec,
        contact_index: int,
        attempt: int,
        stage_on_accept: StageChange | None = None,
    ) -> SendResult | None:
        params = self._s.params
        request = SendInput(
            params.refund_id,
            params.merchant_id,
            self._records.workflow_id(),
            spec.name,
            contact_index,
            attempt,
            purpose=self._purpose(spec),
            machine_detection=params.policy.call.machine_detection,
            stage_on_accept=stage_on_accept,
        )
        try:
            return await workflow.execute_activity_method(
                activity,
                request,
                # A send may wait its turn in the shared rate limit (heartbeating meanwhile).
                start_to_close_timeout=timedelta(minutes=10),
                heartbeat_timeout=timedelta(seconds=30),
                schedule_to_close_timeout=timedelta(minutes=20),
                retry_policy=SEND_RETRY,
            )
        except ActivityError as err:
            name = "send_sms" if spec.channel == Channel.SMS else "place_call"
            await self._records.audit(
                "step.failed",
                {"step": spec.name, "activity": name, "error": str(err.cause or err)},
            )
            return None


def _heard(report: DeliveryReport) -> bool:
    """Completed, and not by a machine: a person heard the message."""
    return report.state == DeliveryState.COMPLETED and report.answered_by != Answerer.MACHINE
