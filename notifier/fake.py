"""An in-memory notifier for fast unit tests: records sends, raises scripted errors."""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from decimal import Decimal

from notifier.base import ProviderError, ProviderPrice, ProviderReceipt

__all__ = ["FakeNotifier", "SentItem"]


@dataclass
class SentItem:
    channel: str
    to: str
    body_or_url: str
    status_callback: str
    sid: str


@dataclass
class FakeNotifier:
    sent: list[SentItem] = field(default_factory=list)
    # Errors raised, in order, before sends succeed again (per phone number).
    errors: dict[str, list[ProviderError]] = field(default_factory=dict)
    price: Decimal = Decimal("0.0079")

    def _next(self, channel: str, to: str, payload: str, callback: str) -> ProviderReceipt:
        queued = self.errors.get(to)
        if queued:
            raise queued.pop(0)
        prefix = "SM" if channel == "sms" else "CA"
        sid = prefix + secrets.token_hex(16)
        self.sent.append(SentItem(channel, to, payload, callback, sid))
        return ProviderReceipt(sid=sid, status="queued")

    async def send_sms(self, *, to: str, body: str, status_callback: str) -> ProviderReceipt:
        return self._next("sms", to, body, status_callback)

    async def place_call(
        self,
        *,
        to: str,
        voice_url: str,
        status_callback: str,
        machine_detection: bool,
        ring_timeout_s: int,
    ) -> ProviderReceipt:
        return self._next("call", to, voice_url, status_callback)

    async def fetch_price(self, *, channel: str, sid: str) -> ProviderPrice:
        return ProviderPrice(self.price if any(s.sid == sid for s in self.sent) else None, "USD")

    async def close(self) -> None:
        return None
