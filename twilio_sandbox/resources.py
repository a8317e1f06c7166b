"""Message and Call resources, and their JSON exactly as API 2010-04-01 renders them.

The JSON follows twilio/twilio-oai spec/json/twilio_api_v2010.json @ d50069b (schemas
`api.v2010.account.call` and `api.v2010.account.message`, and their examples):
every field the schema lists and no other, numbers as strings (`duration`, `price`,
`num_segments`, `num_media`, `queue_time`; `error_code` is the one integer), RFC 2822 dates,
`price` null until settled, `duration` and `end_time` empty for calls that did not complete.
tests/test_twilio_conformance.py checks it field by field.
"""

from __future__ import annotations

import hashlib
import math
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from email.utils import format_datetime
from typing import Any

from twilio_sandbox.amd import AmdRequest

__all__ = [
    "API_VERSION",
    "Call",
    "Message",
    "call_json",
    "call_price",
    "display_number",
    "message_json",
    "new_sid",
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
    """Segments as Twilio counts them: GSM-7 160 in one / 153 per part (extension characters
    take two), UCS-2 (any character outside GSM-7) 70 / 67, in UTF-16 code units. "Twilio
    prepends a User Data Header of 6 Bytes … leaving 153 GSM-7 characters or 67 UCS-2
    characters" (https://www.twilio.com/docs/glossary/what-is-ucs-2-character-encoding; table
    in https://www.twilio.com/docs/glossary/what-sms-character-limit)."""
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


def display_number(phone: str | None) -> str | None:
    """`to_formatted`/`from_formatted`: "(415) 867-5309" for North American numbers, E.164 for
    the others (Call schema: "Non-North American phone numbers are in E.164 format")."""
    if phone is not None and len(phone) == 12 and phone.startswith("+1") and phone[1:].isdigit():
        return f"({phone[2:5]}) {phone[5:8]}-{phone[8:]}"
    return phone


def _phone_number_sid(phone: str) -> str:
    """A stable PN sid for the caller ID: the Twilio number (or verified id) calls come from."""
    return "PN" + hashlib.md5(phone.encode(), usedforsecurity=False).hexdigest()


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
    amd: AmdRequest | None = None
    timeout: int = 60
    status: str = "queued"
    answered_by: str | None = None
    duration: int | None = None
    price: Decimal | None = None
    queue_time_ms: int = 0
    date_created: datetime = field(default_factory=utcnow)
    date_updated: datetime = field(default_factory=utcnow)
    start_time: datetime | None = None
    end_time: datetime | None = None
    callbacks_sent: int = 0
    # The sandbox's own record, not part of the resource: the scripted callee and, for a
    # machine, each <Say> it heard with whether its voicemail recorded it (True, False, or
    # "cut_off": started during the greeting, ended after it).
    answer: str = "no-answer"
    voicemail: list[tuple[str, bool | str]] = field(default_factory=list)

    def update(self, status: str) -> None:
        self.status = status
        self.date_updated = utcnow()


def _account_path(account_sid: str) -> str:
    return f"/{API_VERSION}/Accounts/{account_sid}"


def message_json(message: Message) -> dict[str, Any]:
    path = f"{_account_path(message.account_sid)}/Messages/{message.sid}"
    # "For messages sent via a Messaging Service, num_segments is initially 0" (Message schema).
    pending = message.messaging_service_sid is not None and message.status == "accepted"
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
        "num_segments": "0" if pending else str(message.num_segments),
        "price": _money(message.price),
        # The create examples answer `"price": null, "price_unit": null` before pricing.
        "price_unit": "USD" if message.price is not None else None,
        "sid": message.sid,
        "status": message.status,
        "subresource_uris": {"media": f"{path}/Media.json"},
        "to": message.to,
        "uri": f"{path}.json",
    }


_CALL_SUBRESOURCES = (
    "notifications", "recordings", "payments", "events", "siprec", "streams",
    "transcriptions", "user_defined_message_subscriptions", "user_defined_messages",
)  # fmt: skip


def call_json(call: Call) -> dict[str, Any]:
    path = f"{_account_path(call.account_sid)}/Calls/{call.sid}"
    completed = call.status == "completed"
    return {
        "account_sid": call.account_sid,
        "answered_by": call.answered_by,
        "api_version": API_VERSION,
        "caller_name": None,
        "date_created": rfc2822(call.date_created),
        "date_updated": rfc2822(call.date_updated),
        "direction": "outbound-api",
        # "This value is empty for busy, failed, unanswered, or ongoing calls."
        "duration": str(call.duration) if completed and call.duration is not None else None,
        # "Empty if the call did not complete successfully."
        "end_time": rfc2822(call.end_time) if completed else None,
        "forwarded_from": None,
        "from": call.from_,
        "from_formatted": display_number(call.from_),
        "group_sid": None,
        "parent_call_sid": None,
        "phone_number_sid": _phone_number_sid(call.from_),
        "price": _money(call.price),
        "price_unit": "USD",  # "Always capitalized for calls."
        "queue_time": str(call.queue_time_ms),
        "sid": call.sid,
        # "Empty if the call has not yet been dialed."
        "start_time": rfc2822(call.start_time),
        "status": call.status,
        "subresource_uris": {
            name: f"{path}/{''.join(p.title() for p in name.split('_'))}.json"
            for name in _CALL_SUBRESOURCES
        },
        "to": call.to,
        "to_formatted": display_number(call.to),
        "trunk_sid": None,
        "uri": f"{path}.json",
    }
