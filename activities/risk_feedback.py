"""Risk feedback: at the end of a watch, record how the refund ended for its buyer and device.

The risk gate reads these outcomes on the buyer's next refund (risk/buyer_history.py). Recording is
idempotent (one row per refund, subject and outcome), so a retried activity writes nothing twice.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import structlog
from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.types import RiskFeedbackInput
from db.engine import SessionFactory
from db.models import Refund
from domain.vocabulary import DISPUTING, Outcome, Resolution
from risk.buyer_history import PriorOutcome
from risk.outcome_store import record_outcomes, subjects_of

__all__ = ["RiskFeedbackActivities", "feedback_outcomes"]

log = structlog.get_logger(__name__)


def feedback_outcomes(
    outcome: str, resolution: str | None, answer: str | None
) -> list[PriorOutcome]:
    """The watch's (outcome, resolution, answer) in the risk gate's vocabulary; [] if unknown."""
    if outcome == Outcome.TIMED_OUT:
        return [PriorOutcome.TIMED_OUT]
    if outcome == Outcome.EVIDENCE_MISSED:
        return [PriorOutcome.EVIDENCE_MISSED]
    if outcome != Outcome.RESOLVED:
        return []
    if resolution == Resolution.REJECTED:
        # A rejection after the merchant contested the refund upholds the dispute.
        if answer in DISPUTING:
            return [PriorOutcome.REFUND_REJECTED, PriorOutcome.DISPUTE_UPHELD]
        return [PriorOutcome.REFUND_REJECTED]
    if resolution in (Resolution.APPROVED, Resolution.CANCELLED):
        return [PriorOutcome.HANDLED]
    return []


class RiskFeedbackActivities:
    def __init__(self, sessions: SessionFactory):
        self._sessions = sessions

    def all(self) -> list[Callable[..., Any]]:
        return [self.record_risk_feedback]

    @activity.defn(name="record_risk_feedback")
    async def record_risk_feedback(self, item: RiskFeedbackInput) -> None:
        outcomes = feedback_outcomes(item.outcome, item.resolution, item.answer)
        logger = log.bind(refund_id=item.refund_id)
        if not outcomes:
            # Feedback is a side record: an unknown combination must not fail the watch.
            logger.warning(
                "risk_feedback_unmapped",
                outcome=item.outcome,
                resolution=item.resolution,
                answer=item.answer,
            )
            return
        async with self._sessions() as session:
            refund = await session.get(Refund, item.refund_id)
            if refund is None:
                raise ApplicationError(f"refund {item.refund_id} not found", non_retryable=True)
            await record_outcomes(session, refund, [outcome.value for outcome in outcomes])
            await session.commit()
            subjects = [kind for kind, _ in subjects_of(refund.signals)]
        # Kinds only: buyer and device ids are the platform's, kept out of logs.
        logger.info(
            "risk_feedback_recorded",
            outcomes=[outcome.value for outcome in outcomes],
            subjects=subjects,
        )
