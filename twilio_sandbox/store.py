"""The sandbox's state: resources, per-number counters, and the event log tests read."""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import format_datetime
from typing import Any

__all__ = ["Store", "new_sid", "rfc2822"]


def new_sid(prefix: str) -> str:
    return prefix + secrets.token_hex(16)


def rfc2822(moment: datetime | None = None) -> str:
    return format_datetime(moment or datetime.now(UTC), usegmt=True)


@dataclass
class Store:
    messages: dict[str, dict[str, Any]] = field(default_factory=dict)
    calls: dict[str, dict[str, Any]] = field(default_factory=dict)
    log: list[dict[str, Any]] = field(default_factory=list)
    sms_count: dict[str, int] = field(default_factory=dict)
    call_count: dict[str, int] = field(default_factory=dict)

    def record(self, event: str, **fields: Any) -> None:
        self.log.append({"event": event, "at": datetime.now(UTC).isoformat(), **fields})

    def next_index(self, counter: dict[str, int], phone: str) -> int:
        index = counter.get(phone, 0)
        counter[phone] = index + 1
        return index

    def reset(self) -> None:
        self.messages.clear()
        self.calls.clear()
        self.log.clear()
        self.sms_count.clear()
        self.call_count.clear()
