"""Outbound webhooks: the merchant's decisions told to the platform as signed JSON events.

Activities in ``activities/platform_webhooks.py``, the delivery workflow and the helper the
refund watch calls in ``workflows/platform_webhooks.py``; the contract for receivers in
docs/webhooks.md.
"""

from platform_webhooks.signing import (
    EVENT_ID_HEADER,
    EVENT_TYPE_HEADER,
    SIGNATURE_HEADER,
    SignatureError,
    sign,
    verify,
)
from platform_webhooks.types import EVENT_TYPES, DeliveryOptions, event_id_for

__all__ = [
    "EVENT_ID_HEADER",
    "EVENT_TYPES",
    "EVENT_TYPE_HEADER",
    "SIGNATURE_HEADER",
    "DeliveryOptions",
    "SignatureError",
    "event_id_for",
    "sign",
    "verify",
]
