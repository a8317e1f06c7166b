"""Which waiting send goes first: the expected loss it can still prevent, per second left.

``priority_for = amount_minor × risk/100 / max(seconds_to_deadline, URGENCY_FLOOR_SECONDS)``

- ``amount × risk/100`` is the expected loss if the refund is auto-approved: the risk score
  (0–100) stands for the chance the refund is abnormal, i.e. that approving it loses money.
- Dividing by the time left ranks by value *per unit of slack*. Every send takes one slot of
  the same length, so the question at each slot is only "who can least afford to wait": a big
  refund due in three hours can go after a mid-sized one due in four minutes without losing
  anything, the reverse loses the mid-sized one. (The offline optimum for known unit-length
  jobs with deadlines is a greedy over the whole batch; a live queue that keeps receiving
  sends cannot wait for the batch, and this ratio is the rule that needs only the ticket.)
- The floor: below a minute left the merchant has barely time to act, and without it a
  nearly-expired small refund (3 s left) would outrank every large one. Within the floor,
  urgency is equal and the expected loss decides.

- Will they pick up now? A call is worth only as much as the chance a person answers it at
  this hour of the callee's day: ``worth = amount × risk/100 × P(answer now)``, with
  P(answer now) from the contact's own calls and the published hourly curve
  (domain/answer_odds.py, the same odds the learned call times use). An SMS is read later, so
  its chance is taken as 1 (its queue is its own channel's anyway).

A waiting ticket carries its worth and its deadline (:class:`TicketWorth`), and its waiter
recomputes the priority at every look at the ticket (pacing/pacer.py): the time left shrinks
and the callee's local hour changes while it waits, and the grant order follows.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import desc
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from db.call_outcomes import contact_outcomes
from db.models import Merchant, Refund, RiskAssessment, utcnow
from domain.answer_odds import PRIOR_CURVES, hour_odds, tally
from domain.policy import CallTimesPolicy

__all__ = [
    "URGENCY_FLOOR_SECONDS",
    "TicketWorth",
    "expected_loss_minor",
    "priority_for",
    "send_priority",
    "send_worth",
]

URGENCY_FLOOR_SECONDS = 60.0


def expected_loss_minor(amount_minor: int, risk_score: int) -> float:
    """Amount (minor units) × the risk score read as a probability (clamped to 0–100)."""
    return max(amount_minor, 0) * min(max(risk_score, 0), 100) / 100


def priority_for(amount_minor: int, risk_score: int, seconds_to_deadline: float) -> float:
    """Expected loss per second left before the deadline (minor units per second)."""
    return expected_loss_minor(amount_minor, risk_score) / max(
        seconds_to_deadline, URGENCY_FLOOR_SECONDS
    )


@dataclass(frozen=True)
class TicketWorth:
    """What a waiting send's priority is recomputed from: the expected loss it can prevent,
    the deadline, and (calls) the callee's chance of answering by local hour."""

    expected_loss_minor: float
    deadline: datetime
    answer_odds: Sequence[float] | None = None  # per local hour 0-23; None = 1 (an SMS)
    timezone: str = "UTC"

    def answer_now(self, now: datetime) -> float:
        if self.answer_odds is None:
            return 1.0
        return self.answer_odds[now.astimezone(ZoneInfo(self.timezone)).hour]

    def worth_at(self, now: datetime) -> float:
        """Expected loss prevented if the send goes out now (minor units)."""
        return self.expected_loss_minor * self.answer_now(now)

    def priority_at(self, now: datetime) -> float:
        """Worth per second left before the deadline (the floor as in :func:`priority_for`)."""
        left = (self.deadline - now).total_seconds()
        return self.worth_at(now) / max(left, URGENCY_FLOOR_SECONDS)


async def _latest_score(session: AsyncSession, refund_id: str) -> int:
    statement = (
        select(RiskAssessment.score)
        .where(RiskAssessment.refund_id == refund_id)
        .order_by(desc(col(RiskAssessment.created_at)), desc(col(RiskAssessment.id)))
        .limit(1)
    )
    return (await session.exec(statement)).first() or 0


async def send_worth(
    session: AsyncSession,
    refund_id: str,
    *,
    contact_id: int | None,
    call: bool,
    settings: CallTimesPolicy | None = None,
) -> TicketWorth | None:
    """The worth of a send about ``refund_id`` to ``contact_id``; None for an unknown refund.

    Calls read the contact's history (the default prior and weight of ``call_times``, whose
    policy snapshot lives in the watch, not here)."""
    refund = await session.get(Refund, refund_id)
    if refund is None:
        return None
    loss = expected_loss_minor(refund.amount_minor, await _latest_score(session, refund_id))
    if not call:
        return TicketWorth(loss, refund.deadline_at)
    merchant = await session.get(Merchant, refund.merchant_id)
    rules = settings or CallTimesPolicy()
    history: list[tuple[int, str]] = []
    if contact_id is not None:
        since = utcnow() - timedelta(days=rules.history_days)
        history = await contact_outcomes(session, contact_id, since)
    odds = hour_odds(tally(history), PRIOR_CURVES[rules.prior], rules.prior_weight)
    return TicketWorth(
        loss,
        refund.deadline_at,
        tuple(hour.odds for hour in odds),
        merchant.timezone if merchant is not None else "UTC",
    )


async def send_priority(
    session: AsyncSession, refund_id: str, *, now: datetime | None = None
) -> float:
    """The priority of a send about ``refund_id``: its amount, latest risk score and deadline.

    An unknown refund gets 0 (it goes last; the send itself will report the missing refund).
    """
    refund = await session.get(Refund, refund_id)
    if refund is None:
        return 0.0
    score = await _latest_score(session, refund_id)
    seconds_left = (refund.deadline_at - (now or utcnow())).total_seconds()
    return priority_for(refund.amount_minor, score, seconds_left)
