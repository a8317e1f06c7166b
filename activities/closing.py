"""The end of a watch in one activity: the outcome (refund row, loss ledger, audit) and the
risk feedback, one task instead of two (patch one-closing-activity). Each part is idempotent
on its own, so a retry of the whole writes nothing twice."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from temporalio import activity

from activities.records import RecordActivities
from activities.risk_feedback import RiskFeedbackActivities
from activities.types import ClosingInput

__all__ = ["ClosingActivities"]


class ClosingActivities:
    def __init__(self, records: RecordActivities, feedback: RiskFeedbackActivities) -> None:
        self._records = records
        self._feedback = feedback

    def all(self) -> list[Callable[..., Any]]:
        return [self.record_closing]

    @activity.defn(name="record_closing")
    async def record_closing(self, closing: ClosingInput) -> None:
        await self._records.record_outcome(closing.outcome)
        if closing.feedback is not None:
            await self._feedback.record_risk_feedback(closing.feedback)
