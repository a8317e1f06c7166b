"""The words of the domain, defined once.

Every value here is also what the database, the workflow histories and the API carry, so a
member's value never changes (no data migration, no history breaks); add members, don't rename
them. Provider words (Twilio's statuses, ``AnsweredBy``) are translated into these at the
notifier and webhook edge (``notifier/twilio_words.py``) and nowhere else.
"""

from __future__ import annotations

from enum import StrEnum

__all__ = [
    "ANSWER_CODES",
    "CLOSED_STATES",
    "DISPUTING",
    "LOSS_OUTCOMES",
    "RISK_REASONS",
    "Action",
    "Answerer",
    "AttemptState",
    "CallOutcome",
    "Channel",
    "DeliveryState",
    "EvidenceSource",
    "Outcome",
    "Purpose",
    "RefundState",
    "Resolution",
    "SendStatus",
    "Stage",
]


class Action(StrEnum):
    """What a merchant answers about a refund, by any channel (keypad, SMS reply, in-app)."""

    HANDLE_NOW = "handle_now"  # keypad 1, SMS 1: "I'll handle it now"
    DISPUTE = "dispute"  # keypad 2, SMS 2: "this refund is abnormal", evidence follows
    REJECT = (
        "reject"  # keypad 3, SMS 3: one-click rejection, only where the risk gate found signals
    )
    ACKNOWLEDGE = "acknowledge"  # in-app: "seen", no decision yet


# Answers that say "this refund is abnormal": they open the dispute phase.
DISPUTING = frozenset({Action.DISPUTE, Action.REJECT})
# The codes a merchant presses on the call or replies by SMS ("1", or "1A" with a reply code).
ANSWER_CODES = {"1": Action.HANDLE_NOW, "2": Action.DISPUTE, "3": Action.REJECT}


class Channel(StrEnum):
    IN_APP = "in_app"
    SMS = "sms"
    CALL = "call"
    # An answer given on the merchant page behind an SMS's action link (/m/<token>); never a
    # channel the watch sends on.
    LINK = "link"


class Stage(StrEnum):
    """Where a refund's watch is (``refunds.stage``, the ``RefundStage`` search attribute)."""

    RECEIVED = "received"  # stored, watch not started yet
    NOT_TRACKED = "not_tracked"  # the risk gate let it through: no watch
    WATCHING = "watching"
    IN_APP_SENT = "in_app_sent"
    SMS_SENT = "sms_sent"
    CALLING = "calling"
    FINAL_CALL = "final_call"
    ACKNOWLEDGED = "acknowledged"  # the merchant answered; a lighter watch until the deadline
    DISPUTED = "disputed"  # evidence is awaited until the evidence deadline
    REJECTED = "rejected"  # one-click rejection: the risk reasons are the evidence
    EVIDENCE_SUBMITTED = "evidence_submitted"  # evidence in time; the platform decides
    CLOSED = "closed"


class RefundState(StrEnum):
    """``refunds.state``: open while watched, then how it ended."""

    OPEN = "open"
    UNTRACKED = "untracked"
    RESOLVED = "resolved"
    TIMED_OUT = "timed_out"
    EVIDENCE_MISSED = "evidence_missed"


class Outcome(StrEnum):
    """How a watch ended (the workflow's result, ``RefundOutcome``)."""

    RESOLVED = "resolved"  # the platform decided before the deadline
    TIMED_OUT = "timed_out"  # the deadline passed: auto-approved, a loss
    EVIDENCE_MISSED = "evidence_missed"  # disputed, but no evidence in the window: a loss


# Outcomes written to the loss ledger: the refund was auto-approved without the merchant's say.
LOSS_OUTCOMES = frozenset({Outcome.TIMED_OUT, Outcome.EVIDENCE_MISSED})
CLOSED_STATES = frozenset(
    {RefundState.RESOLVED, RefundState.TIMED_OUT, RefundState.EVIDENCE_MISSED}
)


class Resolution(StrEnum):
    """The platform's decision on a refund."""

    APPROVED = "approved"
    REJECTED = "rejected"
    CANCELLED = "cancelled"


class Purpose(StrEnum):
    """What a message or call is for: picks its text."""

    INITIAL = "initial"
    FINAL = "final"
    REMINDER = "reminder"  # after "I'll handle it"
    EVIDENCE = "evidence"  # a dispute's evidence is still missing


class EvidenceSource(StrEnum):
    MERCHANT = "merchant"  # an upload
    RISK_GATE = "risk_gate"  # a one-click rejection: the risk gate's reasons


# The evidence category of a one-click rejection: the risk gate's reasons, no files.
RISK_REASONS = "risk_reasons"


class AttemptState(StrEnum):
    """Our own lifecycle of one send (``notification_attempts.status`` until the provider
    reports; see db/attempts.py for the transitions)."""

    CLAIMED = "claimed"  # the key is ours; the provider may be called
    ACCEPTED = "accepted"  # the provider took it
    RETRYABLE = "retryable"  # nothing reached the provider; the retry claims it again
    FAILED = "failed"  # the provider refused for good
    OPTED_OUT = "opted_out"  # the number sent STOP
    THROTTLED = "throttled"  # the merchant's hourly SMS cap was reached
    CLOSED = "closed"  # the refund closed while the send waited: not sent
    UNKNOWN = "unknown"  # an earlier try may have sent; never resent blindly


class DeliveryState(StrEnum):
    """What the provider reports about a send, in our words (provider-neutral). The values
    are spelled as Twilio spells its statuses, so rows written before this enum read the same.
    """

    QUEUED = "queued"
    SENT = "sent"
    DELIVERED = "delivered"
    UNDELIVERED = "undelivered"
    FAILED = "failed"
    INITIATED = "initiated"  # a call being dialled
    RINGING = "ringing"
    IN_PROGRESS = "in-progress"
    COMPLETED = "completed"
    BUSY = "busy"
    NO_ANSWER = "no-answer"
    CANCELED = "canceled"

    @classmethod
    def final_for(cls, channel: Channel) -> frozenset[DeliveryState]:
        """The states after which nothing more happens to the send."""
        if channel == Channel.SMS:
            return _SMS_FINAL
        return _CALL_FINAL

    @property
    def sms_failed(self) -> bool:
        return self in _SMS_FAILED


_SMS_FINAL = frozenset({DeliveryState.DELIVERED, DeliveryState.UNDELIVERED, DeliveryState.FAILED})
_SMS_FAILED = frozenset({DeliveryState.UNDELIVERED, DeliveryState.FAILED})
_CALL_FINAL = frozenset(
    {
        DeliveryState.COMPLETED,
        DeliveryState.BUSY,
        DeliveryState.NO_ANSWER,
        DeliveryState.FAILED,
        DeliveryState.CANCELED,
    }
)


class Answerer(StrEnum):
    """Who picked up a call."""

    HUMAN = "human"
    MACHINE = "machine"  # voicemail, fax
    UNKNOWN = "unknown"  # detection could not tell: treated as a person


class CallOutcome(StrEnum):
    """How one call ended for the person called (``call_outcomes.outcome``): what the learned
    call times learn from. A failed or cancelled call says nothing about the callee and is not
    kept."""

    HUMAN = "human"  # a person picked up (or detection could not tell: treated as a person)
    NO_ANSWER = "no_answer"
    BUSY = "busy"
    VOICEMAIL = "voicemail"  # a machine answered


class SendStatus(StrEnum):
    """What one send activity reports back to the watch."""

    ACCEPTED = "accepted"  # the provider took it (now or on an earlier attempt of this key)
    FAILED = "failed"  # final provider error: fail over, do not retry
    NO_CONTACT = "no_contact"  # the merchant has no contact at that priority index
    OPTED_OUT = "opted_out"  # SMS to a number that sent STOP
    UNKNOWN = "unknown"  # an earlier attempt crashed mid-send; never resent blindly
    THROTTLED = "throttled"  # the merchant's hourly SMS limit was reached (they were told)
    CLOSED = "closed"  # the refund closed or its deadline passed while the send waited: not sent
