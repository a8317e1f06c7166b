"""Event types, deterministic event ids and the dataclasses that cross the Temporal boundary.

Standard library only: workflow code imports this module (through the sandbox).
"""

# No ``from __future__ import annotations``: these dataclasses are decoded inside the workflow
# sandbox, where string annotations cannot be resolved against a module it never imported.
import hashlib
from dataclasses import dataclass, field

__all__ = [
    "DISPUTED",
    "EVENT_TYPES",
    "EVIDENCE_MISSED",
    "EVIDENCE_SUBMITTED",
    "GAVE_UP_PREFIX",
    "MERCHANT_HANDLING",
    "NEEDS_EVIDENCE",
    "NEEDS_SUBJECT",
    "NOTICE_ACKNOWLEDGED",
    "NOTICE_CREATED",
    "NOTICE_EVENTS",
    "NOTICE_READ",
    "NOT_CONFIGURED",
    "REJECTED",
    "REMINDER_SENT",
    "STAGE_CHANGED",
    "AbandonInput",
    "DeliverInput",
    "DeliveryOptions",
    "DeliveryResult",
    "OutboundDeliveryInput",
    "OutboundEventCreated",
    "OutboundEventInput",
    "delivery_workflow_id",
    "event_id_for",
]

MERCHANT_HANDLING = "refund.merchant_handling"  # the merchant answered "I'll handle it now"
DISPUTED = "refund.disputed"  # the merchant disputes the refund; evidence is due
EVIDENCE_SUBMITTED = "refund.evidence_submitted"  # the merchant's evidence for the dispute
REJECTED = "refund.rejected"  # one-click rejection as abnormal; the risk reasons are the evidence
EVIDENCE_MISSED = "refund.evidence_missed"  # the evidence window closed without evidence
# Notices the platform can show in its own app (push instead of poll): each in-app notice
# (reminders included), each SMS or call that went out, each read receipt, each stage change.
NOTICE_CREATED = "notice.created"  # an in-app notice was written (subject: its key)
NOTICE_READ = "notice.read"  # the merchant's inbox listed it: read
NOTICE_ACKNOWLEDGED = "notice.acknowledged"  # the merchant acknowledged it in the inbox
REMINDER_SENT = "reminder.sent"  # an SMS or call went out (subject: the send's key)
STAGE_CHANGED = "refund.stage_changed"  # the watch moved the refund on (subject: the stage)
NOTICE_EVENTS = frozenset(
    {NOTICE_CREATED, NOTICE_READ, NOTICE_ACKNOWLEDGED, REMINDER_SENT, STAGE_CHANGED}
)
EVENT_TYPES = frozenset(
    {MERCHANT_HANDLING, DISPUTED, EVIDENCE_SUBMITTED, REJECTED, EVIDENCE_MISSED, *NOTICE_EVENTS}
)
NEEDS_EVIDENCE = frozenset({EVIDENCE_SUBMITTED, REJECTED})
NEEDS_SUBJECT = NOTICE_EVENTS

# ``outbound_events.last_error`` values support tells apart (support/platform_webhooks.py).
NOT_CONFIGURED = "no platform webhook URL configured"
GAVE_UP_PREFIX = "gave up: "


def event_id_for(workflow_id: str, kind: str, key: str) -> str:
    """The same decision of the same watch always gets the same id: replays, retries and a
    second call find the event already there."""
    digest = hashlib.sha256(f"{workflow_id}:{kind}:{key}".encode()).hexdigest()
    return "evt_" + digest[:32]


def delivery_workflow_id(event_id: str) -> str:
    return f"outbound-{event_id}"


@dataclass(frozen=True)
class DeliveryOptions:
    """How long and how patiently an event is retried; the worker's settings by default."""

    # Temporal retries 1 s, 2 s, 4 s, … up to this interval between attempts.
    max_retry_interval_s: int = 600
    # Then it gives up (the event stays undelivered, listed for support).
    give_up_after_s: int = 3 * 24 * 3600


@dataclass(frozen=True)
class OutboundEventInput:
    """Activity ``create_outbound_event``: build the payload from the database, store it once."""

    event_id: str
    type: str
    refund_id: str
    merchant_id: str
    evidence_id: int | None = None
    workflow_id: str = ""  # the watch that decided; for logs
    # What a notice event is about: the notice's or the send's idempotency key, or the stage.
    subject: str = ""


@dataclass(frozen=True)
class OutboundEventCreated:
    event_id: str
    # The worker's configured retry policy, recorded in the watch's history at creation.
    delivery: DeliveryOptions = field(default_factory=DeliveryOptions)


@dataclass(frozen=True)
class OutboundDeliveryInput:
    """``OutboundDeliveryWorkflow``'s input: one event, retried until acknowledged."""

    event_id: str
    delivery: DeliveryOptions = field(default_factory=DeliveryOptions)


@dataclass(frozen=True)
class DeliverInput:
    """Activity ``deliver_outbound_event``: one HTTP attempt (Temporal retries it)."""

    event_id: str
    # A receiver's Retry-After is honoured up to this many seconds.
    max_retry_interval_s: int = 600


class DeliveryResult:
    DELIVERED = "delivered"  # the platform answered 2xx on this attempt
    ALREADY_DELIVERED = "already_delivered"  # acknowledged before: nothing sent
    REFUSED = "refused"  # 410 Gone: the platform does not want this event; not retried
    NOT_CONFIGURED = "not_configured"  # no URL: recorded, nothing sent


@dataclass(frozen=True)
class AbandonInput:
    """Activity ``abandon_outbound_event``: retries ran out; say so where support looks."""

    event_id: str
    reason: str
