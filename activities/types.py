"""Activity inputs and results. Small dataclasses only: rows and phone numbers stay in db/."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from domain.vocabulary import Purpose

__all__ = [
    "STAGE_CHANGED",
    "AnswerRecord",
    "AuditInput",
    "CallOddsInput",
    "CallOutcomeInput",
    "ClosingInput",
    "DisputeInput",
    "LookedUp",
    "LookupInput",
    "NoticeInput",
    "OutcomeInput",
    "RejectionInput",
    "ResponseInput",
    "RiskFeedbackInput",
    "SendInput",
    "SendResult",
    "StageChange",
    "StoredResolution",
]

# The audit kind of a watch's stage change (written by record_audit, or by the step's own
# activity under patch step-records-in-activity).
STAGE_CHANGED = "stage.changed"


@dataclass(frozen=True)
class StageChange:
    """A stage change the step's own activity records in its transaction: the audit entry
    (under the watch's dedup key) and the refund row's stage, as record_audit would."""

    stage: str
    dedup_key: str


@dataclass(frozen=True)
class SendInput:
    refund_id: str
    merchant_id: str
    workflow_id: str
    step: str
    contact_index: int  # 0 = highest-priority active contact
    attempt: int
    # What the message is for (domain.vocabulary.Purpose): picks the text.
    purpose: str = Purpose.INITIAL
    # Calls: answering machine detection (the policy's call.machine_detection).
    machine_detection: bool = True
    # Recorded with the provider's acceptance, in the same transaction (SMS steps).
    stage_on_accept: StageChange | None = None

    @property
    def idempotency_key(self) -> str:
        return f"{self.workflow_id}:{self.step}:c{self.contact_index}:a{self.attempt}"


@dataclass(frozen=True)
class SendResult:
    status: str
    idempotency_key: str
    provider_sid: str | None = None
    error_code: int | None = None
    error_message: str | None = None


@dataclass(frozen=True)
class NoticeInput:
    refund_id: str
    merchant_id: str
    workflow_id: str
    step: str
    purpose: str = Purpose.INITIAL
    # Recorded with the notice, in the same transaction.
    stage: StageChange | None = None

    @property
    def idempotency_key(self) -> str:
        return f"{self.workflow_id}:{self.step}:in_app"


@dataclass(frozen=True)
class AuditInput:
    refund_id: str
    merchant_id: str
    kind: str
    # Makes a retried activity write its event once: the workflow passes a key unique per event.
    dedup_key: str
    detail: dict[str, Any] = field(default_factory=dict)
    stage: str | None = None  # also move refunds.stage when set


@dataclass(frozen=True)
class OutcomeInput:
    refund_id: str
    merchant_id: str
    workflow_id: str
    outcome: str  # resolved | timed_out | evidence_missed
    resolution: str | None = None
    answer: str | None = None
    last_channel: str | None = None


@dataclass(frozen=True)
class StoredResolution:
    """The platform's first stored resolution of a refund, with when it counts as decided
    (db/platform_events.decided_at)."""

    resolution: str  # domain.vocabulary.Resolution
    event_id: str
    at: datetime


@dataclass(frozen=True)
class AnswerRecord:
    """A merchant's answer the watch accepted (any channel), to be recorded once by its
    ``source_event_id`` (the provider's or the client's event id)."""

    refund_id: str
    action: str
    channel: str
    source_event_id: str
    raw: str


@dataclass(frozen=True)
class ResponseInput:
    """An in-app answer accepted by the legacy ``answer_in_app`` update (recorded histories)."""

    refund_id: str
    action: str
    source_event_id: str


@dataclass(frozen=True)
class DisputeInput:
    """The merchant disputed (or rejected) the refund: evidence is due by ``evidence_due``."""

    refund_id: str
    merchant_id: str
    workflow_id: str
    action: str  # dispute | reject
    channel: str
    evidence_due: datetime


@dataclass(frozen=True)
class RejectionInput:
    """A one-click rejection: the risk gate's reasons become the evidence (idempotent on key)."""

    refund_id: str
    merchant_id: str
    workflow_id: str
    request_id: str


@dataclass(frozen=True)
class RiskFeedbackInput:
    """How a watch ended, recorded per buyer and device for the risk gate's next refund."""

    refund_id: str
    outcome: str  # the watch's outcome: resolved | timed_out | evidence_missed
    resolution: str | None = None  # approved | rejected | cancelled, when resolved
    answer: str | None = None  # the merchant's answer, e.g. dispute | reject | handle_now


@dataclass(frozen=True)
class LookupInput:
    """Activity ``look_up_send``: ask the provider's own record of a send (a callback that
    never came must not decide anything)."""

    refund_id: str
    idempotency_key: str


@dataclass(frozen=True)
class LookedUp:
    """What the provider's record says, in our words (domain.vocabulary)."""

    state: str | None  # DeliveryState; None = no record (never created) or no usable status
    error_code: int | None = None
    answered_by: str | None = None  # Answerer, when detection ran


@dataclass(frozen=True)
class CallOutcomeInput:
    """A call's final outcome (domain.vocabulary.CallOutcome), kept for the learned call
    times by the contact's local hour; one row per call key."""

    refund_id: str
    idempotency_key: str
    outcome: str


@dataclass(frozen=True)
class CallOddsInput:
    """The chance the refund's first contact answers, per local hour between ``start`` and
    ``until``, from its history and the policy's prior (activities/call_times.py)."""

    refund_id: str
    start: datetime
    until: datetime
    prior: str
    prior_weight: float
    history_days: int


@dataclass(frozen=True)
class ClosingInput:
    """The watch's end: its outcome and (watches with the dispute phase) the risk feedback."""

    outcome: OutcomeInput
    feedback: RiskFeedbackInput | None = None
