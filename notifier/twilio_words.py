"""Twilio's words in ours: message and call statuses, and ``AnsweredBy``. The one place they
are read; everything behind the webhook edge and the notifier sees domain.vocabulary only.

Statuses as the Twilio REST API 2010-04-01 lists them (twilio/twilio-oai,
spec/yaml/twilio_api_v2010.yaml: ``message_enum_status``, ``call_enum_status``);
``AnsweredBy`` values as the answering machine detection docs list them
(twilio.com/docs/voice/answering-machine-detection).
"""

from __future__ import annotations

from domain.vocabulary import Answerer, DeliveryState

__all__ = ["answerer", "delivery_state"]

_STATES = {
    # messages
    "accepted": DeliveryState.QUEUED,
    "scheduled": DeliveryState.QUEUED,
    "queued": DeliveryState.QUEUED,
    "sending": DeliveryState.SENT,
    "sent": DeliveryState.SENT,
    "delivered": DeliveryState.DELIVERED,
    "read": DeliveryState.DELIVERED,
    "partially_delivered": DeliveryState.DELIVERED,
    "undelivered": DeliveryState.UNDELIVERED,
    "failed": DeliveryState.FAILED,
    "canceled": DeliveryState.CANCELED,
    # calls
    "initiated": DeliveryState.INITIATED,
    "ringing": DeliveryState.RINGING,
    "in-progress": DeliveryState.IN_PROGRESS,
    "completed": DeliveryState.COMPLETED,
    "busy": DeliveryState.BUSY,
    "no-answer": DeliveryState.NO_ANSWER,
}

_ANSWERERS = {
    "human": Answerer.HUMAN,
    "unknown": Answerer.UNKNOWN,
    "machine_start": Answerer.MACHINE,
    "machine_end_beep": Answerer.MACHINE,
    "machine_end_silence": Answerer.MACHINE,
    "machine_end_other": Answerer.MACHINE,
    "fax": Answerer.MACHINE,
}


def delivery_state(status: str) -> DeliveryState | None:
    """Our state for a Twilio status; None for one that says nothing about our send
    (``receiving``/``received`` are inbound messages)."""
    return _STATES.get(status.strip().lower())


def answerer(answered_by: str | None) -> Answerer | None:
    """Who answered, from ``AnsweredBy``; None when Twilio did not say (no detection).
    A value Twilio does not document counts as "could not tell"."""
    if not answered_by:
        return None
    return _ANSWERERS.get(answered_by.strip().lower(), Answerer.UNKNOWN)
