"""RefundWatchWorkflow's branches, each in seconds: the real workflow on the real dev server,
with stand-in activities registered under the pinned activity names (no database, no Twilio,
no API). What the stand-ins were asked to do is what the watch decided.

The full-stack tests (test_escalation_e2e.py, test_disputes.py, ...) prove the parts work
together; these prove the watch's own logic branch by branch, fast enough to run them all.
"""

from __future__ import annotations

import asyncio
import uuid
from collections import defaultdict
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from temporalio import activity
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client, WorkflowHandle, WorkflowUpdateFailedError
from temporalio.exceptions import ApplicationError
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from activities.types import (
    AnswerRecord,
    AuditInput,
    CallOddsInput,
    CallOutcomeInput,
    ClosingInput,
    DisputeInput,
    LookedUp,
    LookupInput,
    NoticeInput,
    OutcomeInput,
    RejectionInput,
    ResponseInput,
    RiskFeedbackInput,
    SendInput,
    SendResult,
    StoredResolution,
)
from domain.call_times import HourSlot
from domain.policy import CallSettings, DisputePolicy, EscalationPolicy, SmsSettings, StepSpec
from domain.vocabulary import (
    Action,
    Answerer,
    CallOutcome,
    Channel,
    DeliveryState,
    SendStatus,
    Stage,
)
from platform_webhooks.types import (
    AbandonInput,
    DeliverInput,
    OutboundEventCreated,
    OutboundEventInput,
)
from workflows.inputs import (
    AnswerTaken,
    AnswerUpdate,
    DeadlineMove,
    DeliveryReport,
    EvidenceCheck,
    EvidenceSubmitted,
    RefundWatchInput,
    ResolutionEvent,
)
from workflows.platform_webhooks import OutboundDeliveryWorkflow
from workflows.refund_watch import ANSWER_REFUSED, RefundWatchWorkflow

MERCHANT = "m-standin"
# A ladder in seconds: in-app at intake, SMS 6 s before the deadline, calls at 4 s and 2 s.
POLICY = EscalationPolicy(
    version="watch-tests",
    steps=[
        StepSpec("in_app_notice", Channel.IN_APP),
        StepSpec("sms_reminder", Channel.SMS, before_deadline_s=6),
        StepSpec("first_call", Channel.CALL, before_deadline_s=4, retries=1, retry_backoff_s=1),
        StepSpec("final_call", Channel.CALL, before_deadline_s=2),
    ],
    call=CallSettings(result_timeout_s=1),
    sms=SmsSettings(report_timeout_s=1),
    contacts_by_level={"high": 2},
    min_step_gap_s=1,
    acknowledged_reminder_s=1,
    quiet_start=None,
    quiet_end=None,
    dispute=DisputePolicy(
        evidence_window_s=4, steps=[StepSpec("evidence_sms", Channel.SMS, before_deadline_s=2)]
    ),
)


@dataclass
class StandIns:
    """The activities, as the watch calls them; ``sends`` scripts each send's result."""

    calls: dict[str, list[tuple[str, Any]]] = field(default_factory=lambda: defaultdict(list))
    # (refund id, activity) -> results to return in turn; default: accepted.
    sends: dict[tuple[str, str], list[str]] = field(default_factory=dict)
    # idempotency key -> what the provider's record says (default: nothing useful).
    records: dict[str, LookedUp] = field(default_factory=dict)
    # refund id -> the resolution the API stored (default: none).
    stored: dict[str, StoredResolution] = field(default_factory=dict)

    def asked(self, refund_id: str, name: str) -> list[Any]:
        return [arg for kind, arg in self.calls[refund_id] if kind == name]

    def names(self, refund_id: str) -> list[str]:
        return [kind for kind, _ in self.calls[refund_id]]

    def audits(self, refund_id: str) -> list[str]:
        return [a.kind for a in self.asked(refund_id, "record_audit")]

    def activities(self) -> list[Callable[..., Any]]:
        stand = self

        def note(refund_id: str, name: str, arg: Any) -> None:
            stand.calls[refund_id].append((name, arg))

        @activity.defn(name="record_audit")
        async def record_audit(event: AuditInput) -> None:
            note(event.refund_id, "record_audit", event)

        @activity.defn(name="record_outcome")
        async def record_outcome(outcome: OutcomeInput) -> None:
            note(outcome.refund_id, "record_outcome", outcome)

        @activity.defn(name="record_answer")
        async def record_answer(answer: AnswerRecord) -> None:
            note(answer.refund_id, "record_answer", answer)

        @activity.defn(name="record_in_app_response")
        async def record_in_app_response(response: ResponseInput) -> None:
            note(response.refund_id, "record_in_app_response", response)

        @activity.defn(name="record_dispute")
        async def record_dispute(dispute: DisputeInput) -> None:
            note(dispute.refund_id, "record_dispute", dispute)

        @activity.defn(name="record_rejection_evidence")
        async def record_rejection_evidence(rejection: RejectionInput) -> int:
            note(rejection.refund_id, "record_rejection_evidence", rejection)
            return 41

        @activity.defn(name="record_risk_feedback")
        async def record_risk_feedback(item: RiskFeedbackInput) -> None:
            note(item.refund_id, "record_risk_feedback", item)

        @activity.defn(name="record_closing")
        async def record_closing(closing: ClosingInput) -> None:
            await record_outcome(closing.outcome)
            if closing.feedback is not None:
                await record_risk_feedback(closing.feedback)

        @activity.defn(name="read_stored_resolution")
        async def read_stored_resolution(refund_id: str) -> StoredResolution | None:
            note(refund_id, "read_stored_resolution", refund_id)
            return stand.stored.get(refund_id)

        @activity.defn(name="notify_in_app")
        async def notify_in_app(notice: NoticeInput) -> None:
            note(notice.refund_id, "notify_in_app", notice)

        def send(name: str) -> Callable[[SendInput], Any]:
            async def run(request: SendInput) -> SendResult:
                note(request.refund_id, name, request)
                script = stand.sends.get((request.refund_id, name))
                status = script.pop(0) if script else SendStatus.ACCEPTED
                return SendResult(status, request.idempotency_key, provider_sid="SID")

            return run

        send_sms = activity.defn(name="send_sms")(send("send_sms"))
        place_call = activity.defn(name="place_call")(send("place_call"))

        @activity.defn(name="look_up_send")
        async def look_up_send(request: LookupInput) -> LookedUp:
            note(request.refund_id, "look_up_send", request)
            return stand.records.get(request.idempotency_key, LookedUp(None))

        @activity.defn(name="create_outbound_event")
        async def create_outbound_event(event: OutboundEventInput) -> OutboundEventCreated:
            note(event.refund_id, "create_outbound_event", event)
            return OutboundEventCreated(event.event_id)

        @activity.defn(name="deliver_outbound_event")
        async def deliver_outbound_event(request: DeliverInput) -> str:
            return "delivered"

        @activity.defn(name="abandon_outbound_event")
        async def abandon_outbound_event(request: AbandonInput) -> None:
            return None

        @activity.defn(name="record_call_outcome")
        async def record_call_outcome(request: CallOutcomeInput) -> bool:
            note(request.refund_id, "record_call_outcome", request)
            return True

        @activity.defn(name="call_odds")
        async def call_odds(request: CallOddsInput) -> list[HourSlot]:
            note(request.refund_id, "call_odds", request)
            return []  # no history: the ladder stays as planned

        return [
            record_audit,
            record_outcome,
            record_answer,
            record_in_app_response,
            record_dispute,
            record_rejection_evidence,
            record_risk_feedback,
            record_closing,
            read_stored_resolution,
            notify_in_app,
            send_sms,
            place_call,
            look_up_send,
            create_outbound_event,
            deliver_outbound_event,
            abandon_outbound_event,
            record_call_outcome,
            call_odds,
        ]


@dataclass
class Watches:
    client: Client
    task_queue: str
    stand_ins: StandIns

    async def start(
        self,
        *,
        deadline_in: float = 8,
        abnormal: bool = True,
        evidence_window_s: int | None = None,
        policy: EscalationPolicy = POLICY,
    ) -> tuple[str, WorkflowHandle[RefundWatchWorkflow, str]]:
        refund_id = f"R-w-{uuid.uuid4().hex[:8]}"
        handle = await self.client.start_workflow(
            RefundWatchWorkflow.run,
            RefundWatchInput(
                refund_id=refund_id,
                merchant_id=MERCHANT,
                amount_minor=300000,
                currency="CNY",
                deadline=datetime.now(UTC) + timedelta(seconds=deadline_in),
                risk_score=80,
                risk_level="high",
                policy=policy,
                abnormal=abnormal,
                evidence_window_s=evidence_window_s,
            ),
            id=f"refund-{refund_id}",
            task_queue=self.task_queue,
        )
        return refund_id, handle

    async def wait_for(self, condition: Callable[[], bool], timeout: float = 10) -> None:
        end = asyncio.get_running_loop().time() + timeout
        while not condition():
            if asyncio.get_running_loop().time() > end:
                raise AssertionError("the watch never did it")
            await asyncio.sleep(0.05)


@pytest.fixture(scope="module")
async def watches(temporal_env: WorkflowEnvironment) -> AsyncIterator[Watches]:
    stand_ins = StandIns()
    task_queue = f"watch-tests-{uuid.uuid4().hex[:6]}"
    async with Worker(
        temporal_env.client,
        task_queue=task_queue,
        workflows=[RefundWatchWorkflow, OutboundDeliveryWorkflow],
        activities=stand_ins.activities(),
    ):
        yield Watches(temporal_env.client, task_queue, stand_ins)


def answer(action: Action, source: str, channel: Channel = Channel.CALL) -> AnswerUpdate:
    return AnswerUpdate(MERCHANT, action, channel, source, raw=action)


async def test_nobody_answers_every_step_runs_in_order_then_it_times_out(
    watches: Watches,
) -> None:
    refund_id, handle = await watches.start(deadline_in=7)
    assert await handle.result() == "timed_out"
    names = watches.stand_ins.names(refund_id)
    sends = [n for n in names if n in ("notify_in_app", "send_sms", "place_call")]
    assert sends[:2] == ["notify_in_app", "send_sms"]
    assert sends.count("place_call") >= 2, "the calls ran (first call with its retry, final)"
    outcomes = watches.stand_ins.asked(refund_id, "record_outcome")
    assert {(o.outcome, o.answer) for o in outcomes} == {("timed_out", None)}


async def test_an_answer_stops_the_escalation_and_a_repeat_is_the_same_answer(
    watches: Watches,
) -> None:
    refund_id, handle = await watches.start(deadline_in=8)
    await watches.wait_for(lambda: bool(watches.stand_ins.asked(refund_id, "notify_in_app")))
    taken = await handle.execute_update(RefundWatchWorkflow.answer, answer(Action.HANDLE_NOW, "k1"))
    again = await handle.execute_update(RefundWatchWorkflow.answer, answer(Action.HANDLE_NOW, "k1"))
    assert (taken.recorded, taken.duplicate) == ("handle_now", False)
    assert isinstance(again, AnswerTaken) and again.duplicate
    recorded = watches.stand_ins.asked(refund_id, "record_answer")
    assert {r.source_event_id for r in recorded} == {"k1"}, "one answer, recorded under its id"
    await watches.wait_for(lambda: "escalation.stopped" in watches.stand_ins.audits(refund_id))
    await handle.signal(
        RefundWatchWorkflow.resolve, ResolutionEvent("rejected", "ev-1", datetime.now(UTC))
    )
    assert await handle.result() == "resolved"
    assert watches.stand_ins.asked(refund_id, "send_sms") == [], "no SMS after the answer"
    assert (await handle.query(RefundWatchWorkflow.status)).stage == Stage.CLOSED
    told = [e.type for e in watches.stand_ins.asked(refund_id, "create_outbound_event")]
    assert told == ["refund.merchant_handling"]


async def test_a_rejection_counts_only_where_the_risk_gate_found_something(
    watches: Watches,
) -> None:
    refund_id, handle = await watches.start(deadline_in=8, abnormal=False)
    with pytest.raises(WorkflowUpdateFailedError) as refused:
        await handle.execute_update(RefundWatchWorkflow.answer, answer(Action.REJECT, "k3"))
    cause = refused.value.cause
    assert isinstance(cause, ApplicationError) and cause.type == ANSWER_REFUSED
    assert cause.details[0] == "not_abnormal"
    assert watches.stand_ins.asked(refund_id, "record_answer") == [], "nothing recorded"
    await handle.signal(
        RefundWatchWorkflow.resolve, ResolutionEvent("approved", "ev-2", datetime.now(UTC))
    )
    assert await handle.result() == "resolved"


async def test_one_click_rejection_brings_the_risk_reasons_as_evidence(watches: Watches) -> None:
    refund_id, handle = await watches.start(deadline_in=8, abnormal=True)
    taken = await handle.execute_update(RefundWatchWorkflow.answer, answer(Action.REJECT, "k3"))
    assert taken.recorded == "reject"
    await watches.wait_for(
        lambda: bool(watches.stand_ins.asked(refund_id, "create_outbound_event"))
    )
    assert (await handle.query(RefundWatchWorkflow.status)).evidence_id == 41
    with pytest.raises(WorkflowUpdateFailedError) as again:
        await handle.execute_update(RefundWatchWorkflow.answer, answer(Action.DISPUTE, "k2"))
    assert isinstance(again.value.cause, ApplicationError)
    assert list(again.value.cause.details) == ["already_disputed", "reject"]
    await handle.terminate("done")


async def test_a_dispute_opens_the_evidence_window_and_evidence_in_time_counts(
    watches: Watches,
) -> None:
    refund_id, handle = await watches.start(deadline_in=10, evidence_window_s=5)
    await handle.execute_update(RefundWatchWorkflow.answer, answer(Action.DISPUTE, "k2"))
    await watches.wait_for(lambda: bool(watches.stand_ins.asked(refund_id, "record_dispute")))
    now = datetime.now(UTC)
    verdict = await handle.query(RefundWatchWorkflow.evidence_verdict, EvidenceCheck(MERCHANT, now))
    assert verdict.refusal is None and verdict.stage == Stage.DISPUTED
    other = await handle.query(RefundWatchWorkflow.evidence_verdict, EvidenceCheck("m-x", now))
    assert other.refusal == "not_yours"
    await handle.signal(
        RefundWatchWorkflow.evidence_submitted,
        EvidenceSubmitted(7, "empty_package", "merchant", now),
    )
    await watches.wait_for(
        lambda: (
            "refund.evidence_submitted"
            in [e.type for e in watches.stand_ins.asked(refund_id, "create_outbound_event")]
        )
    )
    assert (await handle.query(RefundWatchWorkflow.status)).stage == Stage.EVIDENCE_SUBMITTED
    await handle.signal(
        RefundWatchWorkflow.resolve, ResolutionEvent("rejected", "ev-3", datetime.now(UTC))
    )
    assert await handle.result() == "resolved"
    # Bookkeeping runs as local activities: at least once (a workflow task whose completion
    # the server turns down, e.g. because a child finished meanwhile, runs them again), which
    # is why each of those writes is idempotent by its own key.
    feedback = watches.stand_ins.asked(refund_id, "record_risk_feedback")
    assert {(f.outcome, f.answer) for f in feedback} == {("resolved", "dispute")}


async def test_no_evidence_by_the_due_time_is_evidence_missed(watches: Watches) -> None:
    refund_id, handle = await watches.start(deadline_in=20, evidence_window_s=2)
    await handle.execute_update(RefundWatchWorkflow.answer, answer(Action.DISPUTE, "k2"))
    assert await handle.result() == "evidence_missed"
    told = [e.type for e in watches.stand_ins.asked(refund_id, "create_outbound_event")]
    assert told == ["refund.disputed", "refund.evidence_missed"]
    late = await handle.query(
        RefundWatchWorkflow.evidence_verdict, EvidenceCheck(MERCHANT, datetime.now(UTC))
    )
    assert late.refusal == "window_closed", "a closed watch still answers why"


async def test_an_undelivered_sms_brings_the_call_forward(watches: Watches) -> None:
    # The report must come before the look-up's timer: 5 s, not the module's 1 s, so a test
    # worker slowed by its neighbour does not signal too late.
    patient = replace(POLICY, sms=SmsSettings(report_timeout_s=5))
    refund_id, handle = await watches.start(deadline_in=9, policy=patient)
    await watches.wait_for(lambda: bool(watches.stand_ins.asked(refund_id, "send_sms")))
    (sms,) = watches.stand_ins.asked(refund_id, "send_sms")
    await handle.signal(
        RefundWatchWorkflow.delivery_reported,
        DeliveryReport(sms.idempotency_key, Channel.SMS, DeliveryState.UNDELIVERED, 30003),
    )
    await watches.wait_for(lambda: "step.moved_earlier" in watches.stand_ins.audits(refund_id))
    moved = [
        a.detail
        for a in watches.stand_ins.asked(refund_id, "record_audit")
        if a.kind == "step.moved_earlier"
    ]
    assert moved[0]["step"] == "first_call"
    assert moved[0]["reason"] == "SMS undelivered (error 30003)"
    await handle.terminate("done")


async def test_a_call_answered_by_a_person_ends_the_step_a_machine_does_not(
    watches: Watches,
) -> None:
    refund_id, handle = await watches.start(deadline_in=9)
    await watches.wait_for(lambda: bool(watches.stand_ins.asked(refund_id, "place_call")))
    (first,) = watches.stand_ins.asked(refund_id, "place_call")
    await handle.signal(
        RefundWatchWorkflow.delivery_reported,
        DeliveryReport(
            first.idempotency_key, Channel.CALL, DeliveryState.COMPLETED, None, Answerer.MACHINE
        ),
    )
    await watches.wait_for(lambda: len(watches.stand_ins.asked(refund_id, "place_call")) >= 2)
    retry = watches.stand_ins.asked(refund_id, "place_call")[1]
    assert (retry.step, retry.attempt) == ("first_call", 2), "voicemail: the call is retried"
    await handle.signal(
        RefundWatchWorkflow.delivery_reported,
        DeliveryReport(
            retry.idempotency_key, Channel.CALL, DeliveryState.COMPLETED, None, Answerer.HUMAN
        ),
    )
    await asyncio.sleep(1.5)
    calls = watches.stand_ins.asked(refund_id, "place_call")
    assert [c.step for c in calls].count("first_call") == 2, "heard: no backup contact called"
    learned = watches.stand_ins.asked(refund_id, "record_call_outcome")
    assert [(o.idempotency_key, o.outcome) for o in learned] == [
        (first.idempotency_key, CallOutcome.VOICEMAIL),
        (retry.idempotency_key, CallOutcome.HUMAN),
    ], "each call's outcome is kept for the learned call times"
    await handle.terminate("done")


async def test_a_moved_deadline_replans_the_ladder(watches: Watches) -> None:
    refund_id, handle = await watches.start(deadline_in=30)
    later = datetime.now(UTC) + timedelta(seconds=40)
    await handle.signal(RefundWatchWorkflow.move_deadline, DeadlineMove(later, "dl-1"))
    await watches.wait_for(lambda: "ladder.replanned" in watches.stand_ins.audits(refund_id))
    status = await handle.query(RefundWatchWorkflow.status)
    assert status.deadline == later
    await handle.terminate("done")


async def test_a_platform_decision_after_the_deadline_is_a_timeout(watches: Watches) -> None:
    refund_id, handle = await watches.start(deadline_in=30)
    after = datetime.now(UTC) + timedelta(seconds=60)
    await handle.signal(RefundWatchWorkflow.resolve, ResolutionEvent("approved", "ev-4", after))
    assert await handle.result() == "timed_out"
    outcomes = watches.stand_ins.asked(refund_id, "record_outcome")
    assert {(o.outcome, o.resolution) for o in outcomes} == {("timed_out", "approved")}


async def test_a_resolution_stored_before_the_deadline_saves_the_refund_without_its_signal(
    watches: Watches,
) -> None:
    """The API stored the platform's decision in time but its signal had not arrived when the
    deadline fired: the watch reads it and the refund is resolved, not lost."""
    refund_id, handle = await watches.start(deadline_in=4)
    decided = datetime.now(UTC)
    watches.stand_ins.stored[refund_id] = StoredResolution("approved", "ev-stored", decided)
    assert await handle.result() == "resolved"
    outcomes = watches.stand_ins.asked(refund_id, "record_outcome")
    assert {(o.outcome, o.resolution) for o in outcomes} == {("resolved", "approved")}
    assert "resolution.read_at_deadline" in watches.stand_ins.audits(refund_id)


async def test_a_resolution_stored_at_or_after_the_deadline_is_still_a_timeout(
    watches: Watches,
) -> None:
    refund_id, handle = await watches.start(deadline_in=4)
    late = datetime.now(UTC) + timedelta(seconds=60)
    watches.stand_ins.stored[refund_id] = StoredResolution("approved", "ev-late", late)
    assert await handle.result() == "timed_out"
    assert watches.stand_ins.asked(refund_id, "read_stored_resolution") == [refund_id]


async def test_a_lost_final_call_status_is_read_from_the_providers_record(
    watches: Watches,
) -> None:
    """No final callback within the result timeout: the watch asks Twilio's record of the call,
    which says a person answered; the step ends as if the callback had come."""
    refund_id, handle = await watches.start(deadline_in=9)
    await watches.wait_for(lambda: bool(watches.stand_ins.asked(refund_id, "place_call")))
    (first,) = watches.stand_ins.asked(refund_id, "place_call")
    watches.stand_ins.records[first.idempotency_key] = LookedUp(
        DeliveryState.COMPLETED, None, Answerer.HUMAN
    )
    await watches.wait_for(lambda: "call.looked_up" in watches.stand_ins.audits(refund_id))
    await asyncio.sleep(1.5)
    calls = watches.stand_ins.asked(refund_id, "place_call")
    assert [c.step for c in calls].count("first_call") == 1, "heard, so not called again"
    assert "call.no_result" not in watches.stand_ins.audits(refund_id)
    await handle.terminate("done")


async def test_no_record_either_means_no_result_and_the_call_is_retried(
    watches: Watches,
) -> None:
    refund_id, handle = await watches.start(deadline_in=9)
    await watches.wait_for(lambda: len(watches.stand_ins.asked(refund_id, "place_call")) >= 2)
    assert "call.no_result" in watches.stand_ins.audits(refund_id)
    assert watches.stand_ins.asked(refund_id, "look_up_send"), "it asked before giving up"
    await handle.terminate("done")


async def test_a_voicemail_whose_detection_result_was_lost_is_not_a_person(
    watches: Watches,
) -> None:
    """Completed, but the AMD callback never came: the record's AnsweredBy decides."""
    refund_id, handle = await watches.start(deadline_in=9)
    await watches.wait_for(lambda: bool(watches.stand_ins.asked(refund_id, "place_call")))
    (first,) = watches.stand_ins.asked(refund_id, "place_call")
    watches.stand_ins.records[first.idempotency_key] = LookedUp(
        DeliveryState.COMPLETED, None, Answerer.MACHINE
    )
    await handle.signal(
        RefundWatchWorkflow.delivery_reported,
        DeliveryReport(first.idempotency_key, Channel.CALL, DeliveryState.COMPLETED),
    )
    await watches.wait_for(lambda: len(watches.stand_ins.asked(refund_id, "place_call")) >= 2)
    retry = watches.stand_ins.asked(refund_id, "place_call")[1]
    assert (retry.step, retry.attempt) == ("first_call", 2)
    await handle.terminate("done")


async def test_an_sms_failure_whose_callback_was_lost_still_brings_the_call_forward(
    watches: Watches,
) -> None:
    refund_id, handle = await watches.start(deadline_in=9)
    await watches.wait_for(lambda: bool(watches.stand_ins.asked(refund_id, "send_sms")))
    (sms,) = watches.stand_ins.asked(refund_id, "send_sms")
    watches.stand_ins.records[sms.idempotency_key] = LookedUp(DeliveryState.UNDELIVERED, 30003)
    await watches.wait_for(lambda: "step.moved_earlier" in watches.stand_ins.audits(refund_id))
    assert "sms.looked_up" in watches.stand_ins.audits(refund_id)
    await handle.terminate("done")


async def test_a_delivered_sms_cancels_its_look_up_instead_of_waking_for_it(
    watches: Watches,
) -> None:
    refund_id, handle = await watches.start(deadline_in=9)
    await watches.wait_for(lambda: bool(watches.stand_ins.asked(refund_id, "send_sms")))
    (sms,) = watches.stand_ins.asked(refund_id, "send_sms")
    await handle.signal(
        RefundWatchWorkflow.delivery_reported,
        DeliveryReport(sms.idempotency_key, Channel.SMS, DeliveryState.DELIVERED),
    )
    await watches.wait_for(lambda: bool(watches.stand_ins.asked(refund_id, "place_call")))
    assert not watches.stand_ins.asked(refund_id, "look_up_send"), "the report was in"
    events = [event async for event in handle.fetch_history_events()]
    kinds = [EventType.Name(event.event_type) for event in events]
    assert "EVENT_TYPE_TIMER_CANCELED" in kinds, "the look-up's timer was cancelled"
    await handle.terminate("done")
