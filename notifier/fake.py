"""An in-memory notifier for fast unit tests: records sends, raises scripted errors."""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal

from domain.vocabulary import Channel, DeliveryState
from notifier.base import AmdRequest, ProviderPrice, ProviderReceipt, SendLookup
from notifier.errors import AmbiguousProviderError, ProviderError

__all__ = ["FakeNotifier", "SentItem"]


@dataclass
class SentItem:
    channel: str
    to: str
    body_or_url: str
    status_callback: str
    sid: str
    created_at: datetime = field(default_factory=lambda: datetime.now(UTC))


@dataclass
class FakeNotifier:
    sent: list[SentItem] = field(default_factory=list)
    # Errors raised, in order, before sends succeed again (per phone number).
    errors: dict[str, list[ProviderError]] = field(default_factory=dict)
    price: Decimal = Decimal("0.0079")
    updates: list[tuple[str, str]] = field(default_factory=list)  # (call sid, twiml)
    # Numbers whose next send goes out, but its answer is lost (an ambiguous send).
    answer_lost: set[str] = field(default_factory=set)

    def _next(self, channel: str, to: str, payload: str, callback: str) -> ProviderReceipt:
        queued = self.errors.get(to)
        if queued:
            raise queued.pop(0)
        prefix = "SM" if channel == Channel.SMS else "CA"
        sid = prefix + secrets.token_hex(16)
        self.sent.append(SentItem(channel, to, payload, callback, sid))
        if to in self.answer_lost:
            self.answer_lost.discard(to)
            raise AmbiguousProviderError("sent, but the answer was lost")
        return ProviderReceipt(sid=sid, status="queued")

    async def send_sms(self, *, to: str, body: str, status_callback: str) -> ProviderReceipt:
        return self._next(Channel.SMS, to, body, status_callback)

    async def place_call(
        self,
        *,
        to: str,
        voice_url: str,
        status_callback: str,
        amd: AmdRequest | None,
        ring_timeout_s: int,
    ) -> ProviderReceipt:
        return self._next(Channel.CALL, to, voice_url, status_callback)

    async def update_call(self, *, sid: str, twiml: str) -> None:
        self.updates.append((sid, twiml))

    def _lookup(self, item: SentItem) -> SendLookup:
        return SendLookup(
            sid=item.sid,
            channel=Channel(item.channel),
            state=DeliveryState.QUEUED,
            to=item.to,
            body=item.body_or_url if item.channel == Channel.SMS else None,
            created_at=item.created_at,
            price=ProviderPrice(self.price, "USD"),
        )

    async def lookup(self, *, channel: Channel, sid: str) -> SendLookup:
        for item in self.sent:
            if item.sid == sid:
                return self._lookup(item)
        return SendLookup(sid=sid, channel=channel, state=None)

    async def find_sends(self, *, channel: Channel, to: str, since: datetime) -> list[SendLookup]:
        return [
            self._lookup(item)
            for item in self.sent
            if item.channel == channel and item.to == to and item.created_at >= since
        ]

    async def close(self) -> None:
        return None
