"""SQLModel tables. The only place rows are defined; nothing here crosses the Temporal boundary.

Money is stored as integer minor units plus an ISO currency code. Times are timezone-aware UTC.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import JSON, BigInteger, Column, Index, Numeric, UniqueConstraint
from sqlmodel import Field, SQLModel

from db.types import UTCDateTime

__all__ = [
    "AuditEvent",
    "BuyerOutcome",
    "CallOutcomeRecord",
    "Contact",
    "EvidenceFile",
    "EvidenceSubmission",
    "InAppNotice",
    "LossEntry",
    "LossReport",
    "Merchant",
    "MerchantResponse",
    "NotificationAttempt",
    "OutboundDelivery",
    "OutboundEvent",
    "PendingAnswer",
    "PlatformEvent",
    "Refund",
    "RiskAssessment",
    "SchedulerLease",
    "SendTicket",
    "utcnow",
]


def utcnow() -> datetime:
    return datetime.now(UTC)


class Merchant(SQLModel, table=True):
    __tablename__ = "merchants"

    merchant_id: str = Field(primary_key=True, max_length=64)
    name: str = Field(max_length=200)
    timezone: str = Field(max_length=64)
    language: str = Field(max_length=16)
    # Local "HH:MM" in the merchant's timezone; None = the policy's default quiet hours.
    quiet_start: str | None = Field(default=None, max_length=5)
    quiet_end: str | None = Field(default=None, max_length=5)
    created_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    updated_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))


class Contact(SQLModel, table=True):
    __tablename__ = "contacts"
    __table_args__ = (UniqueConstraint("merchant_id", "phone", name="uq_contact_phone"),)

    id: int | None = Field(default=None, primary_key=True)
    merchant_id: str = Field(foreign_key="merchants.merchant_id", index=True, max_length=64)
    phone: str = Field(max_length=20)
    name: str = Field(max_length=200)
    priority: int
    active: bool = True
    sms_opted_out: bool = False


class Refund(SQLModel, table=True):
    __tablename__ = "refunds"

    refund_id: str = Field(primary_key=True, max_length=64)
    merchant_id: str = Field(foreign_key="merchants.merchant_id", index=True, max_length=64)
    order_id: str = Field(max_length=64)
    amount_minor: int = Field(sa_column=Column(BigInteger, nullable=False))
    currency: str = Field(max_length=3)
    reason: str = Field(max_length=500)
    requested_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    deadline_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False, index=True))
    signals: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    # sha256 of the canonical intake payload: a repeated intake compares against it.
    payload_hash: str = Field(max_length=64)
    intake: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    tracked: bool
    workflow_id: str | None = Field(default=None, max_length=100)
    workflow_started_at: datetime | None = Field(
        default=None, sa_column=Column(UTCDateTime(), nullable=True)
    )
    # domain.vocabulary.RefundState: open → resolved | timed_out | evidence_missed;
    # untracked refunds are recorded as "untracked". Written by intake and the watch only.
    state: str = Field(max_length=20, index=True)
    # domain.vocabulary.Stage, as the watch projects it (for support and the merchant's views;
    # no decision reads it: the watch decides from its own state).
    stage: str = Field(default="received", max_length=30)
    resolution: str | None = Field(default=None, max_length=20)
    merchant_answer: str | None = Field(default=None, max_length=30)
    # Short code merchants put in SMS replies ("1A") when several refunds are open at once.
    reply_code: str | None = Field(default=None, max_length=4)
    # Set while the merchant disputes the refund: evidence is due by then (see EvidenceSubmission).
    evidence_due_at: datetime | None = Field(
        default=None, sa_column=Column(UTCDateTime(), nullable=True)
    )
    closed_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime(), nullable=True))
    created_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))


class RiskAssessment(SQLModel, table=True):
    __tablename__ = "risk_assessments"

    id: int | None = Field(default=None, primary_key=True)
    refund_id: str = Field(foreign_key="refunds.refund_id", index=True, max_length=64)
    score: int
    level: str = Field(max_length=16)
    tracked: bool
    reasons: list[dict[str, Any]] = Field(
        default_factory=list, sa_column=Column(JSON, nullable=False)
    )
    rules_version: str = Field(max_length=64)
    created_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))


class NotificationAttempt(SQLModel, table=True):
    """One outbound notice, SMS or call. The idempotency key is claimed before the provider call."""

    __tablename__ = "notification_attempts"

    id: int | None = Field(default=None, primary_key=True)
    idempotency_key: str = Field(unique=True, max_length=200)
    refund_id: str = Field(foreign_key="refunds.refund_id", index=True, max_length=64)
    merchant_id: str = Field(max_length=64, index=True)
    contact_id: int | None = Field(default=None, foreign_key="contacts.id")
    channel: str = Field(max_length=10)  # domain.vocabulary.Channel
    step: str = Field(max_length=40)
    attempt: int
    # The latest of our lifecycle (domain.vocabulary.AttemptState: claimed → accepted | failed
    # | retryable | …) then the provider's reports in our words (DeliveryState); each entry of
    # status_history says which ("source": "provider"). Transitions: db/attempts.py.
    status: str = Field(max_length=20)
    provider_sid: str | None = Field(default=None, max_length=64, unique=True)
    status_history: list[dict[str, Any]] = Field(
        default_factory=list, sa_column=Column(JSON, nullable=False)
    )
    error_code: int | None = None
    error_message: str | None = Field(default=None, max_length=500)
    price: Decimal | None = Field(default=None, sa_column=Column(Numeric(12, 5), nullable=True))
    price_unit: str | None = Field(default=None, max_length=3)
    duration_seconds: int | None = None
    answered_by: str | None = Field(default=None, max_length=30)
    # The SMS text as sent: how a send whose create got no answer is recognised among the
    # provider's own records (activities/sends.py).
    body: str | None = Field(default=None, max_length=1600)
    encoding: str | None = Field(default=None, max_length=4)  # SMS: gsm7 | ucs2
    segments: int | None = None  # SMS: billed segments (domain/sms_length.py)
    created_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    updated_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))


class InAppNotice(SQLModel, table=True):
    __tablename__ = "in_app_notices"

    id: int | None = Field(default=None, primary_key=True)
    idempotency_key: str = Field(unique=True, max_length=200)
    refund_id: str = Field(foreign_key="refunds.refund_id", index=True, max_length=64)
    merchant_id: str = Field(max_length=64, index=True)
    message: str = Field(max_length=1000)
    created_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    read_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime(), nullable=True))
    acknowledged_at: datetime | None = Field(
        default=None, sa_column=Column(UTCDateTime(), nullable=True)
    )


class MerchantResponse(SQLModel, table=True):
    """A merchant's answer. ``source_event_id`` (provider sid, request id) makes it idempotent."""

    __tablename__ = "merchant_responses"

    id: int | None = Field(default=None, primary_key=True)
    source_event_id: str = Field(unique=True, max_length=200)
    refund_id: str = Field(foreign_key="refunds.refund_id", index=True, max_length=64)
    merchant_id: str = Field(max_length=64)
    channel: str = Field(max_length=10)  # domain.vocabulary.Channel
    action: str = Field(max_length=20)  # domain.vocabulary.Action
    raw: str = Field(max_length=200)
    received_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))


class PlatformEvent(SQLModel, table=True):
    """Resolutions and deadline moves from the platform, deduplicated by the platform's event id."""

    __tablename__ = "platform_events"

    id: int | None = Field(default=None, primary_key=True)
    event_id: str = Field(unique=True, max_length=200)
    refund_id: str = Field(foreign_key="refunds.refund_id", index=True, max_length=64)
    kind: str = Field(max_length=20)  # resolution | deadline
    payload: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    received_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))


class AuditEvent(SQLModel, table=True):
    """Append-only: rows are inserted, never updated or deleted (enforced by a trigger on
    PostgreSQL). ``dedup_key`` lets a retried activity write its event exactly once."""

    __tablename__ = "audit_events"

    id: int | None = Field(default=None, primary_key=True)
    dedup_key: str | None = Field(default=None, unique=True, max_length=200)
    refund_id: str | None = Field(default=None, index=True, max_length=64)
    merchant_id: str | None = Field(default=None, index=True, max_length=64)
    kind: str = Field(max_length=50)
    actor: str = Field(max_length=50)
    detail: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False, index=True))


class LossEntry(SQLModel, table=True):
    __tablename__ = "loss_ledger"

    id: int | None = Field(default=None, primary_key=True)
    refund_id: str = Field(foreign_key="refunds.refund_id", unique=True, max_length=64)
    merchant_id: str = Field(max_length=64, index=True)
    amount_minor: int = Field(sa_column=Column(BigInteger, nullable=False))
    currency: str = Field(max_length=3)
    reason: str = Field(max_length=50)
    last_channel: str | None = Field(default=None, max_length=10)
    recorded_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))


class SchedulerLease(SQLModel, table=True):
    """A named lease so one scheduler instance at a time runs a job (reconciler, reports)."""

    __tablename__ = "scheduler_leases"

    name: str = Field(primary_key=True, max_length=50)
    holder: str = Field(max_length=100)
    expires_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))


class LossReport(SQLModel, table=True):
    """The daily losses summary, one row per day (UTC)."""

    __tablename__ = "loss_reports"

    id: int | None = Field(default=None, primary_key=True)
    day: str = Field(unique=True, max_length=10)
    summary: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    created_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))


class SendTicket(SQLModel, table=True):
    """A send waiting for the shared rate limit; the most valuable ticket goes first."""

    __tablename__ = "send_tickets"

    idempotency_key: str = Field(primary_key=True, max_length=200)
    channel: str = Field(max_length=10, index=True)
    priority: float
    enqueued_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    granted_at: datetime | None = Field(
        default=None, sa_column=Column(UTCDateTime(), nullable=True, index=True)
    )
    # What the priority is recomputed from while the ticket waits (pacing/priority.py): the
    # expected loss it can prevent if answered now, and the refund's deadline.
    worth: float | None = None
    deadline_at: datetime | None = Field(
        default=None, sa_column=Column(UTCDateTime(), nullable=True)
    )


class EvidenceSubmission(SQLModel, table=True):
    """Evidence a merchant gives for a disputed or rejected refund: a note, a category, files.

    ``request_id`` (the client's idempotency key) makes a repeated submission a no-op.
    ``source`` is ``merchant`` for an upload, ``risk_gate`` for a one-click rejection whose
    evidence is the risk gate's reasons.
    """

    __tablename__ = "evidence_submissions"
    __table_args__ = (UniqueConstraint("refund_id", "request_id", name="uq_evidence_request"),)

    id: int | None = Field(default=None, primary_key=True)
    refund_id: str = Field(foreign_key="refunds.refund_id", index=True, max_length=64)
    merchant_id: str = Field(max_length=64, index=True)
    request_id: str = Field(max_length=100)
    category: str = Field(max_length=30)  # empty_package | swapped_item | not_returned | ...
    note: str = Field(default="", max_length=2000)
    source: str = Field(max_length=20)  # merchant | risk_gate
    # For a one-click rejection: the risk reasons attached as evidence.
    details: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    submitted_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))


class EvidenceFile(SQLModel, table=True):
    """One stored file of a submission; its bytes live in the evidence store at ``storage_key``."""

    __tablename__ = "evidence_files"

    id: int | None = Field(default=None, primary_key=True)
    evidence_id: int = Field(foreign_key="evidence_submissions.id", index=True)
    filename: str = Field(max_length=200)
    content_type: str = Field(max_length=100)
    size_bytes: int
    sha256: str = Field(max_length=64)
    storage_key: str = Field(unique=True, max_length=300)
    created_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))


class OutboundEvent(SQLModel, table=True):
    """An event refundwatch tells the platform (a merchant's decision), signed and delivered by
    a Temporal workflow until the platform acknowledges it. Delivered at most once per ack."""

    __tablename__ = "outbound_events"

    event_id: str = Field(primary_key=True, max_length=100)
    refund_id: str = Field(foreign_key="refunds.refund_id", index=True, max_length=64)
    merchant_id: str = Field(max_length=64, index=True)
    type: str = Field(max_length=50)  # refund.merchant_handling | refund.disputed | ...
    payload: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    created_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    attempts: int = 0
    delivered_at: datetime | None = Field(
        default=None, sa_column=Column(UTCDateTime(), nullable=True)
    )
    last_error: str | None = Field(default=None, max_length=500)


class OutboundDelivery(SQLModel, table=True):
    """One HTTP attempt to deliver an outbound event, for support and audit."""

    __tablename__ = "outbound_deliveries"

    id: int | None = Field(default=None, primary_key=True)
    event_id: str = Field(foreign_key="outbound_events.event_id", index=True, max_length=100)
    attempt: int
    status_code: int | None = None
    error: str | None = Field(default=None, max_length=500)
    duration_ms: int
    at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))


class BuyerOutcome(SQLModel, table=True):
    """Risk feedback: how a refund ended, per buyer and per device it came from, so the risk
    gate can read a buyer's (or device's) history on the next refund."""

    __tablename__ = "buyer_outcomes"
    __table_args__ = (
        UniqueConstraint("refund_id", "subject_kind", "outcome", name="uq_buyer_outcome"),
    )

    id: int | None = Field(default=None, primary_key=True)
    refund_id: str = Field(foreign_key="refunds.refund_id", max_length=64)
    subject_kind: str = Field(max_length=10)  # buyer | device
    subject_id: str = Field(max_length=128, index=True)
    # dispute_upheld | refund_rejected | evidence_missed | timed_out | handled
    outcome: str = Field(max_length=30)
    recorded_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))


class PendingAnswer(SQLModel, table=True):
    """A merchant's answer that could not reach its watch (Temporal briefly unreachable): kept
    here until the scheduler delivers it through the same entry point, so none is lost."""

    __tablename__ = "pending_answers"

    source_event_id: str = Field(primary_key=True, max_length=200)
    refund_id: str = Field(foreign_key="refunds.refund_id", index=True, max_length=64)
    merchant_id: str = Field(max_length=64)
    action: str = Field(max_length=20)  # domain.vocabulary.Action
    channel: str = Field(max_length=10)  # domain.vocabulary.Channel
    raw: str = Field(max_length=200)
    received_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    attempts: int = 0
    # Set once the watch took or refused it (``verdict``: taken | a domain.answers.Refusal).
    delivered_at: datetime | None = Field(
        default=None, sa_column=Column(UTCDateTime(), nullable=True, index=True)
    )
    verdict: str | None = Field(default=None, max_length=30)


class CallOutcomeRecord(SQLModel, table=True):
    """How one call ended for its contact, by the contact's local hour and weekday: what the
    learned call times learn from (domain/answer_odds.py). One row per call (its attempt's
    idempotency key), written by the watch once the call's final outcome is known."""

    __tablename__ = "call_outcomes"
    __table_args__ = (Index("ix_call_outcomes_contact_called", "contact_id", "called_at"),)

    id: int | None = Field(default=None, primary_key=True)
    idempotency_key: str = Field(unique=True, max_length=200)
    merchant_id: str = Field(max_length=64, index=True)
    contact_id: int = Field(foreign_key="contacts.id")
    called_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    local_hour: int  # 0-23 in the merchant's time zone when the call was placed
    weekday: int  # 0 = Monday
    outcome: str = Field(max_length=12)  # domain.vocabulary.CallOutcome
