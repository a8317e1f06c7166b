"""The sandbox's memory: resources, opt-outs and the event log tests read back.

The log keeps whole phone numbers (it is the test double's own record, read by tests); the
log lines written alongside it mask them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

import structlog

from domain.masking import mask_phone
from twilio_sandbox.resources import Call, Message, utcnow

__all__ = ["EventValue", "SandboxEvent", "Store"]

log = structlog.get_logger("twilio_sandbox")

EventValue = str | int | float | bool | list[str] | None
# Only these event fields go to log lines: never message bodies, spoken text or TwiML.
_NUMBER = re.compile(r"\+?\d{7,15}")
_LOGGED = ("status", "method", "attempt", "http_status", "error", "code", "answered_by", "digits")


@dataclass(frozen=True)
class SandboxEvent:
    seq: int
    at: datetime
    kind: str
    sid: str | None
    data: dict[str, EventValue] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "seq": self.seq,
            "at": self.at.isoformat(),
            "kind": self.kind,
            "sid": self.sid,
            **self.data,
        }


def _mask_numbers(value: EventValue) -> EventValue:
    # Error texts can quote the number they refuse ("The 'To' number +86… is not valid").
    if isinstance(value, str):
        return _NUMBER.sub(lambda match: mask_phone(match.group(0)), value)
    return value


def _log_fields(data: dict[str, EventValue]) -> dict[str, Any]:
    fields = {key: _mask_numbers(data[key]) for key in _LOGGED if data.get(key) is not None}
    for key in ("to", "from"):
        value = data.get(key)
        if isinstance(value, str):
            fields[key] = mask_phone(value)
    url = data.get("url")
    if isinstance(url, str):
        parts = urlsplit(url)  # the query may carry the receiver's keys: keep it out
        fields["url"] = f"{parts.scheme}://{parts.netloc}{parts.path}"
    return fields


class Store:
    def __init__(self) -> None:
        self.messages: dict[str, Message] = {}
        self.calls: dict[str, Call] = {}
        self.events: list[SandboxEvent] = []
        # (recipient, sender) pairs where the recipient texted STOP, as Twilio's opt-out does.
        self.opted_out: set[tuple[str, str]] = set()

    def clear(self) -> None:
        self.messages.clear()
        self.calls.clear()
        self.events.clear()
        self.opted_out.clear()

    def record(self, kind: str, sid: str | None = None, **data: EventValue) -> SandboxEvent:
        """Append to the event log and write a log line with numbers masked."""
        if "from_" in data:
            data["from"] = data.pop("from_")
        event = SandboxEvent(len(self.events) + 1, utcnow(), kind, sid, data)
        self.events.append(event)
        status = data.get("http_status")
        failed = data.get("error") is not None or (isinstance(status, int) and status >= 400)
        (log.warning if failed else log.info)(kind, sid=sid, **_log_fields(data))
        return event
