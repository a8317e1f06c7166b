"""Message and Call resources, and their JSON exactly as API 2010-04-01 renders them."""

from __future__ import annotations

import math
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from email.utils import format_datetime
from typing import Any

__all__ = [
    "API_VERSION",
    "Call",
    "Message",
    "call_json",
    "call_price",
    "message_json",
    "new_sid",
    "page_json",
    "rfc2822",
    "sms_price",
    "sms_segments",
    "utcnow",
]

API_VERSION = "2010-04-01"
_SMS_PRICE_PER_SEGMENT = Decimal("0.0079")
_CALL_PRICE_PER_MINUTE = Decimal("0.0130")
# GSM 03.38 basic set; anything outside it makes the whole message UCS-2.
_GSM7 = set(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
_GSM7_EXTENDED = set("^{}\\[~]|€\f")


def utcnow() -> datetime:
    return datetime.now(UTC)


def new_sid(prefix: str) -> str:
    """'SM' or 'CA' and 32 hex digits, like Twilio's."""
    return prefix + uuid.uuid4().hex


def rfc2822(moment: datetime | None) -> str | None:
    return format_datetime(moment) if moment is not None else None


def sms_segments(body: str) -> int:
    if all(ch in _GSM7 or ch in _GSM7_EXTENDED for ch in body):
        units = sum(2 if ch in _GSM7_EXTENDED else 1 for ch in body)
        single, multi = 160, 153
    else:
        units = len(body.encode("utf-16-le")) // 2
        single, multi = 70, 67
    if units <= single:
        return 1
    return math.ceil(units / multi)


def sms_price(segments: int) -> Decimal:
    return -(_SMS_PRICE_PER_SEGMENT * segments)


def call_price(duration_seconds: int) -> Decimal:
    return -(_CALL_PRICE_PER_MINUTE * max(1, math.ceil(duration_seconds / 60)))


def _money(amount: Decimal | None) -> str | None:
    return f"{amount:.4f}" if amount is not None else None


@dataclass
class Message:
    sid: str
    account_sid: str
    to: str
    from_: str | None
    body: str
    direction: str = "outbound-api"
    status: str = "queued"
    status_callback: str | None = None
    messaging_service_sid: str | None = None
    num_segments: int = 1
    price: Decimal | None = None
    error_code: int | None = None
    error_message: str | None = None
    date_created: datetime = field(default_factory=utcnow)
    date_updated: datetime = field(default_factory=utcnow)
    date_sent: datetime | None = None

    def update(self, status: str) -> None:
        self.status = status
        self.date_updated = utcnow()


@dataclass
class Call:
    sid: str
    account_sid: str
    to: str
    from_: str
    url: str | None
    method: str = "POST"
    twiml: str | None = None
    fallback_url: str | None = None
    fallback_method: str = "POST"
    status_callback: str | None = None
    status_callback_method: str = "POST"
    status_callback_events: frozenset[str] = frozenset({"completed"})
    machine_detection: str | None = None
    timeout: int = 60
    status: str = "queued"
    answered_by: str | None = None
    duration: int | None = None
    price: Decimal | None = None
    date_created: datetime = field(default_factory=utcnow)
    date_updated: datetime = field(default_factory=utcnow)
    start_time: datetime | None = None
    end_time: datetime | None = None
    callbacks_sent: int = 0

    def update(self, status: str) -> None:
        self.status = status
        self.date_updated = utcnow()


def _account_path(account_sid: str) -> str:
    return f"/{API_VERSION}/Accounts/{account_sid}"


def message_json(message: Message) -> dict[str, Any]:
    path = f"{_account_path(message.account_sid)}/Messages/{message.sid}"
    return {
        "account_sid": message.account_sid,
        "api_version": API_VERSION,
        "body": message.body,
        "date_created": rfc2822(message.date_created),
        "date_sent": rfc2822(message.date_sent),
        "date_updated": rfc2822(message.date_updated),
        "direction": message.direction,
        "error_code": message.error_code,
        "error_message": message.error_message,
        "from": message.from_,
        "messaging_service_sid": message.messaging_service_sid,
        "num_media": "0",
        "num_segments": str(message.num_segments),
        "price": _money(message.price),
        "price_unit": "USD",
        "sid": message.sid,
        "status": message.status,
        "subresource_uris": {"media": f"{path}/Media.json", "feedback": f"{path}/Feedback.json"},
        "to": message.to,
        "uri": f"{path}.json",
    }


def call_json(call: Call) -> dict[str, Any]:
    path = f"{_account_path(call.account_sid)}/Calls/{call.sid}"
    subresources = (
        "user_defined_message_subscriptions", "notifications", "recordings", "streams",
        "payments", "user_defined_messages", "events", "siprec",
    )  # fmt: skip
    return {
        "account_sid": call.account_sid,
        "annotation": None,
        "answered_by": call.answered_by,
        "api_version": API_VERSION,
        "caller_name": None,
        "date_created": rfc2822(call.date_created),
        "date_updated": rfc2822(call.date_updated),
        "direction": "outbound-api",
        "duration": str(call.duration) if call.duration is not None else None,
        "end_time": rfc2822(call.end_time),
        "forwarded_from": None,
        "from": call.from_,
        "from_formatted": call.from_,
        "group_sid": None,
        "parent_call_sid": None,
        "phone_number_sid": None,
        "price": _money(call.price),
        "price_unit": "USD",
        "queue_time": "0",
        "sid": call.sid,
        "start_time": rfc2822(call.start_time),
        "status": call.status,
        "subresource_uris": {
            name: f"{path}/{''.join(p.title() for p in name.split('_'))}.json"
            for name in subresources
        },
        "to": call.to,
        "to_formatted": call.to,
        "trunk_sid": None,
        "uri": f"{path}.json",
    }


def page_json(key: str, uri: str, items: list[dict[str, Any]]) -> dict[str, Any]:
    """One page holding everything: the sandbox never has enough records to page."""
    return {
        key: items,
        "end": max(len(items) - 1, 0),
        "first_page_uri": uri,
        "next_page_uri": None,
        "page": 0,
        "page_size": max(len(items), 50),
        "previous_page_uri": None,
        "start": 0,
        "uri": uri,
    }
