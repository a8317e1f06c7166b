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

Priorities are computed when a send asks for a slot; an activity retry recomputes them, so a
send that keeps waiting grows more urgent.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import desc
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from db.models import Refund, RiskAssessment, utcnow

__all__ = ["URGENCY_FLOOR_SECONDS", "expected_loss_minor", "priority_for", "send_priority"]

URGENCY_FLOOR_SECONDS = 60.0


def expected_loss_minor(amount_minor: int, risk_score: int) -> float:
    """Amount (minor units) × the risk score read as a probability (clamped to 0–100)."""
    return max(amount_minor, 0) * min(max(risk_score, 0), 100) / 100


def priority_for(amount_minor: int, risk_score: int, seconds_to_deadline: float) -> float:
    """Expected loss per second left before the deadline (minor units per second)."""
    return expected_loss_minor(amount_minor, risk_score) / max(
        seconds_to_deadline, URGENCY_FLOOR_SECONDS
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
    statement = (
        select(RiskAssessment.score)
        .where(RiskAssessment.refund_id == refund_id)
        .order_by(desc(col(RiskAssessment.created_at)), desc(col(RiskAssessment.id)))
        .limit(1)
    )
    score = (await session.exec(statement)).first()
    seconds_left = (refund.deadline_at - (now or utcnow())).total_seconds()
    return priority_for(refund.amount_minor, score or 0, seconds_left)
