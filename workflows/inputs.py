"""Dataclasses that cross the workflow boundary: the start input, signals, updates, queries.

New fields always get defaults so histories recorded by older code still decode.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from workflows.policy import EscalationPolicy

__all__ = [
    "DeadlineMove",
    "EvidenceSubmitted",
    "InAppAnswer",
    "MerchantAnswer",
    "NotificationStatus",
    "QuietWindow",
    "RefundWatchInput",
    "Resolution",
    "WatchStatus",
]


@dataclass(frozen=True)
class QuietWindow:
    """A stretch of the merchant's quiet hours, in UTC (computed by the API, see domain/)."""

    start: datetime
    end: datetime


@dataclass(frozen=True)
class RefundWatchInput:
    refund_id: str
    merchant_id: str
    amount_minor: int
    currency: str
    deadline: datetime
    risk_score: int
    risk_level: str
    policy: EscalationPolicy
    quiet_windows: list[QuietWindow] = field(default_factory=list)
    # The risk gate found abnormal signals: the merchant may reject in one click (keypad 3).
    abnormal: bool = False
    # Evidence window the platform grants after a dispute; None = the policy's.
    evidence_window_s: int | None = None


@dataclass(frozen=True)
class MerchantAnswer:
    """A merchant's answer already recorded in the database (keypad, SMS reply, in-app)."""

    action: str  # handle_now | dispute | acknowledge | reject
    channel: str  # call | sms | in_app
    source_event_id: str
    at: datetime


@dataclass(frozen=True)
class InAppAnswer:
    """The in-app Update: validated against the watch's state before it enters history."""

    merchant_id: str
    action: str
    request_id: str


@dataclass(frozen=True)
class Resolution:
    resolution: str  # approved | rejected | cancelled
    event_id: str
    at: datetime


@dataclass(frozen=True)
class DeadlineMove:
    deadline: datetime
    event_id: str
    quiet_windows: list[QuietWindow] = field(default_factory=list)


@dataclass(frozen=True)
class EvidenceSubmitted:
    """Evidence already stored and recorded by the API (signal ``evidence_submitted``)."""

    evidence_id: int
    category: str
    source: str  # merchant | risk_gate
    at: datetime


@dataclass(frozen=True)
class NotificationStatus:
    """A provider status callback, relayed by the API after it was recorded."""

    idempotency_key: str
    channel: str  # sms | call
    status: str
    error_code: int | None = None
    answered_by: str | None = None


@dataclass
class WatchStatus:
    refund_id: str
    stage: str
    deadline: datetime
    answer: str | None
    resolution: str | None
    outcome: str | None
    steps_done: list[str] = field(default_factory=list)
    next_step: str | None = None
    next_step_at: datetime | None = None
    dispute: str | None = None  # dispute | reject
    evidence_due: datetime | None = None
    evidence_id: int | None = None
