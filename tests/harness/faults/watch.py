"""One refund of a fault batch: when the merchant was heard and the platform decided, and
from those moments, which outcomes are right.

The platform is this test: it resolves a refund once its merchant has answered. A resolution
sent at or after the deadline comes too late (the auto-approval refundwatch exists to prevent);
one stored before it (by more than ``RACE``) saves the refund, however late the watch hears.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

__all__ = ["EITHER", "RACE", "Watch"]

# A resolution accepted this close to the deadline races the deadline timer: either is right.
RACE = timedelta(seconds=0.5)
EITHER = {"resolved", "timed_out"}


@dataclass
class Watch:
    refund_id: str
    kind: str
    phones: list[str]
    deadline: datetime
    heard_at: datetime | None = None  # refundwatch answered the merchant's "1" (sandbox log)
    sent_at: datetime | None = None  # the platform (this test) first sent its resolution
    recorded_at: datetime | None = None  # the API stored it (its platform event's received_at)
    resolved_at: datetime | None = None  # the API answered 200
    refused_at: datetime | None = None  # the API refused it (409): the refund had closed

    def expected(self) -> set[str]:
        """The outcomes that are right for what happened; empty when none can be."""
        if self.refused_at is not None:
            # Only the deadline closes a refund this test did not resolve, and never before it.
            return {"timed_out"} if self.refused_at >= self.deadline else set()
        if self.sent_at is not None and self.sent_at >= self.deadline:
            # Decided at or after the deadline: the auto-approval refundwatch exists to prevent,
            # a loss even if the resolution beat the deadline timer.
            return {"timed_out"}
        if self.recorded_at is not None:
            # Decided and stored before the deadline: resolved, even if telling the watch had to
            # wait (a 503 while Temporal was down, then the platform's retry). Stored within
            # RACE of the deadline, it races the deadline timer.
            return {"resolved"} if self.recorded_at < self.deadline - RACE else EITHER
        if self.heard_at is not None and self.heard_at < self.deadline - RACE:
            return set()  # the merchant was told "handled" in time, and the platform never knew
        return {"timed_out"}

    def timeline(self) -> str:
        """Each moment relative to the deadline, for failure messages."""
        moments = {
            "heard": self.heard_at,
            "sent": self.sent_at,
            "recorded": self.recorded_at,
            "resolved": self.resolved_at,
            "refused": self.refused_at,
        }
        shown = [
            f"{name} {(at - self.deadline).total_seconds():+.2f}s"
            for name, at in moments.items()
            if at is not None
        ]
        return ", ".join(shown) or "never heard nor resolved"
