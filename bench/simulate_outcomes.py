"""What happened to each refund of an arm, read from the arm's database after the run — or, for
the no-alerts arm, derived from the population without running anything.

Read from the tables the real code wrote: ``refunds`` (tracked, state), ``loss_ledger`` (the
last channel that reached the merchant before the timeout), ``merchant_responses`` (the channel
of the first answer), ``notification_attempts`` (every notice, SMS and call, its status and the
price the provider reported).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from sqlmodel import col, select

from bench.simulate_population import Population
from db.engine import SessionFactory
from db.models import AuditEvent, LossEntry, MerchantResponse, NotificationAttempt, Refund

__all__ = ["ArmOutcome", "RefundOutcome", "SendRecord", "no_alerts_outcome", "read_outcome"]

SAVED, LOST, OPEN = "saved", "lost", "open"


@dataclass(frozen=True)
class RefundOutcome:
    index: int
    currency: str
    amount_minor: int
    result: str  # saved | lost | open
    # saved: the channel of the merchant's first answer (in_app | sms | call), or "unprompted";
    # lost: the last channel that reached the merchant (loss ledger), or "none".
    channel: str
    answered: bool = False
    # For an answered refund: the last alert sent before the answer (in_app | sms | call).
    prompted_by: str | None = None


@dataclass(frozen=True)
class SendRecord:
    channel: str  # in_app | sms | call
    sent: bool  # the provider took it (in-app: the notice was written)
    reached: bool  # SMS delivered, call answered by a person
    voicemail: bool = False
    price: Decimal | None = None
    price_unit: str | None = None


@dataclass(frozen=True)
class ArmOutcome:
    arm: str
    refunds: tuple[RefundOutcome, ...]  # tracked refunds only: the money at risk
    untracked: tuple[RefundOutcome, ...]  # below the risk gate: never at risk, never watched
    sends: tuple[SendRecord, ...]
    ran_workflows: bool
    # Seconds from each timed-out refund's deadline to its outcome being recorded: how late
    # the dev server fired the deadline timers (on a compressed clock, lateness matters).
    timeout_lateness_s: tuple[float, ...] = ()
    # Seconds from each step's planned time (the audit's ``ladder.planned``) to its first send:
    # on a compressed clock, a busy machine shows here first.
    step_lateness_s: tuple[float, ...] = ()


def _send(attempt: NotificationAttempt) -> SendRecord:
    if attempt.channel == "in_app":
        return SendRecord("in_app", sent=True, reached=True)
    answered_by = attempt.answered_by or ""
    if attempt.channel == "sms":
        reached = attempt.status == "delivered"
    else:
        reached = attempt.status == "completed" and not answered_by.startswith("machine")
    return SendRecord(
        attempt.channel,
        sent=attempt.provider_sid is not None,
        reached=reached,
        voicemail=answered_by.startswith("machine"),
        price=attempt.price,
        price_unit=attempt.price_unit,
    )


def _step_lateness(plans: list[AuditEvent], attempts: list[NotificationAttempt]) -> list[float]:
    first_send: dict[tuple[str, str], datetime] = {}
    for attempt in attempts:
        key = (attempt.refund_id, attempt.step)
        if key not in first_send or attempt.created_at < first_send[key]:
            first_send[key] = attempt.created_at
    lateness = []
    for plan in plans:
        steps = plan.detail.get("steps")
        for step in steps if isinstance(steps, list) else []:
            sent = first_send.get((plan.refund_id or "", str(step.get("step"))))
            if sent is not None and isinstance(step.get("at"), str):
                lateness.append((sent - datetime.fromisoformat(step["at"])).total_seconds())
    return lateness


def _last_alert(attempts: list[NotificationAttempt], before: datetime) -> str | None:
    sent = [
        a
        for a in attempts
        if a.created_at < before and (a.channel == "in_app" or a.provider_sid is not None)
    ]
    return max(sent, key=lambda a: a.created_at).channel if sent else None


async def read_outcome(arm: str, sessions: SessionFactory, ids: Mapping[str, int]) -> ArmOutcome:
    """``ids`` maps the arm's refund ids to population indexes."""
    async with sessions() as session:
        refunds = (await session.exec(select(Refund))).all()
        losses = {loss.refund_id: loss for loss in (await session.exec(select(LossEntry))).all()}
        responses = (
            await session.exec(select(MerchantResponse).order_by(col(MerchantResponse.received_at)))
        ).all()
        attempts = (
            await session.exec(select(NotificationAttempt).order_by(col(NotificationAttempt.id)))
        ).all()
        plans = (
            await session.exec(
                select(AuditEvent)
                .where(AuditEvent.kind == "ladder.planned")
                .order_by(col(AuditEvent.id))
            )
        ).all()
    first_answer: dict[str, MerchantResponse] = {}
    for response in responses:
        first_answer.setdefault(response.refund_id, response)
    by_refund: dict[str, list[NotificationAttempt]] = {}
    for attempt in attempts:
        by_refund.setdefault(attempt.refund_id, []).append(attempt)
    tracked: list[RefundOutcome] = []
    untracked: list[RefundOutcome] = []
    lateness: list[float] = []
    for refund in sorted(refunds, key=lambda r: ids[r.refund_id]):
        index = ids[refund.refund_id]
        if not refund.tracked:
            untracked.append(RefundOutcome(index, refund.currency, refund.amount_minor, OPEN, ""))
            continue
        answer = first_answer.get(refund.refund_id)
        answered = answer is not None and (
            refund.closed_at is None or answer.received_at <= refund.closed_at
        )
        prompted = (
            _last_alert(by_refund.get(refund.refund_id, []), answer.received_at)
            if answer is not None and answered
            else None
        )
        if refund.state == "resolved":
            channel = answer.channel if answer is not None and answered else "unprompted"
            result = SAVED
        elif refund.state == "timed_out":
            loss = losses.get(refund.refund_id)
            channel = (loss.last_channel if loss else None) or "none"
            result = LOST
            if refund.closed_at is not None:
                lateness.append((refund.closed_at - refund.deadline_at).total_seconds())
        else:
            channel, result = "", OPEN
        tracked.append(
            RefundOutcome(
                index,
                refund.currency,
                refund.amount_minor,
                result,
                channel,
                answered=answered,
                prompted_by=prompted,
            )
        )
    return ArmOutcome(
        arm,
        tuple(tracked),
        tuple(untracked),
        tuple(_send(attempt) for attempt in attempts),
        ran_workflows=True,
        timeout_lateness_s=tuple(lateness),
        step_lateness_s=tuple(_step_lateness(list(plans), list(attempts))),
    )


def no_alerts_outcome(population: Population, tracked: Mapping[int, bool]) -> ArmOutcome:
    """Nothing is sent: a watched refund is saved only if its merchant decides unprompted
    (``behaviour.unprompted``, drawn per refund); every other one reaches its deadline. The
    risk gate's decisions (``tracked``) are those of the full-ladder arm, same population."""
    watched: list[RefundOutcome] = []
    below: list[RefundOutcome] = []
    for refund in population.refunds:
        if not tracked.get(refund.index, False):
            below.append(
                RefundOutcome(refund.index, refund.currency, refund.amount_minor, OPEN, "")
            )
            continue
        saved = refund.unprompted_at is not None
        watched.append(
            RefundOutcome(
                refund.index,
                refund.currency,
                refund.amount_minor,
                SAVED if saved else LOST,
                "unprompted" if saved else "none",
            )
        )
    return ArmOutcome("no_alerts", tuple(watched), tuple(below), (), ran_workflows=False)
