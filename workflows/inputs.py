"""Dataclasses that cross the workflow boundary: the start input, signals, updates, queries.

New fields always get defaults so histories recorded by older code still decode.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from domain.policy import EscalationPolicy

__all__ = [
    "AnswerTaken",
    "AnswerUpdate",
    "DeadlineMove",
    "DeliveryReport",
    "EvidenceCheck",
    "EvidenceSubmitted",
    "EvidenceVerdict",
    "InAppAnswer",
    "MerchantAnswer",
    "NotificationStatus",
    "QuietWindow",
    "RefundWatchInput",
    "ResolutionEvent",
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
    # Tell the platform each notice, reminder and stage change (REFUNDWATCH_PLATFORM_NOTICE_EVENTS);
    # False in histories recorded before notice events existed.
    notice_events: bool = False


@dataclass(frozen=True)
class AnswerUpdate:
    """The ``answer`` Update: a merchant's answer from any channel, judged by the watch
    (domain.answers) before it enters history, recorded by the watch once it counts."""

    merchant_id: str
    action: str  # domain.vocabulary.Action
    channel: str  # domain.vocabulary.Channel
    source_event_id: str  # the provider's or client's event id: one answer per id
    raw: str = ""  # what the merchant sent (digits, SMS body), for the audit
    at: datetime | None = None  # when we received it; None = when the watch takes it


@dataclass(frozen=True)
class AnswerTaken:
    """What the ``answer`` Update returns: the answer that stands after this one (a dispute
    wins over "I'll handle it"), and whether this event id had been taken before."""

    recorded: str
    duplicate: bool = False


@dataclass(frozen=True)
class MerchantAnswer:
    """An answer as the watch keeps it (and the signal of histories recorded before the
    ``answer`` Update, when the API recorded keypad and SMS answers itself)."""

    action: str  # handle_now | dispute | acknowledge | reject
    channel: str  # call | sms | in_app
    source_event_id: str
    at: datetime


@dataclass(frozen=True)
class InAppAnswer:
    """The legacy in-app Update (``answer_in_app``), kept for recorded histories."""

    merchant_id: str
    action: str
    request_id: str


@dataclass(frozen=True)
class ResolutionEvent:
    """The platform decided (signal ``resolve``)."""

    resolution: str  # domain.vocabulary.Resolution
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
class EvidenceCheck:
    """The ``evidence_verdict`` query: would evidence from this merchant, now, count?"""

    merchant_id: str
    at: datetime


@dataclass(frozen=True)
class EvidenceVerdict:
    refusal: str | None  # domain.answers.Refusal, None = it counts
    stage: str
    evidence_due: datetime | None


@dataclass(frozen=True)
class DeliveryReport:
    """What the provider reported about a send, in our words (signal ``delivery_reported``):
    the webhook edge maps Twilio's status and AnsweredBy before anything reaches the watch."""

    idempotency_key: str
    channel: str  # domain.vocabulary.Channel
    state: str  # domain.vocabulary.DeliveryState
    error_code: int | None = None
    answered_by: str | None = None  # domain.vocabulary.Answerer, when the provider said


@dataclass(frozen=True)
class NotificationStatus:
    """A raw provider status (signal ``notification_status``), as histories recorded before
    :class:`DeliveryReport` carry it: Twilio's own words."""

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
