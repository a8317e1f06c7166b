"""The notifier protocol: what refundwatch asks of an SMS and voice provider, in our words."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Protocol

from domain.vocabulary import Answerer, Channel, DeliveryState
from notifier.errors import (
    INVALID_NUMBER,
    OPTED_OUT,
    AmbiguousProviderError,
    FinalProviderError,
    ProviderError,
    RetryableProviderError,
    classify_provider_error,
)

__all__ = [
    "INVALID_NUMBER",
    "OPTED_OUT",
    "AmbiguousProviderError",
    "AmdRequest",
    "FinalProviderError",
    "Notifier",
    "ProviderError",
    "ProviderPrice",
    "ProviderReceipt",
    "RetryableProviderError",
    "SendLookup",
    "classify_provider_error",
]


@dataclass(frozen=True)
class ProviderReceipt:
    sid: str
    status: str


@dataclass(frozen=True)
class ProviderPrice:
    """What the provider charged, once it knows (Twilio fills it in after the fact)."""

    cost: Decimal | None  # positive; Twilio reports charges as negative amounts
    unit: str | None


@dataclass(frozen=True)
class AmdRequest:
    """Answering machine detection on a call.

    ``wait_for_beep``: report a machine only at the end of its greeting (Twilio's
    ``DetectMessageEnd``), so a message left then is recorded whole; otherwise as soon as one
    is recognised (``Enable``). ``result_url``: detect in the background and post the result
    there (``AsyncAmd``), so a person hears the prompt at once; None = the call waits for the
    result and it comes with the TwiML request.
    """

    wait_for_beep: bool = True
    result_url: str | None = None


@dataclass(frozen=True)
class SendLookup:
    """A send as the provider's own record has it (its REST resource), in our words."""

    sid: str
    channel: Channel
    state: DeliveryState | None  # None: a status that says nothing about delivery
    to: str | None = None
    body: str | None = None  # messages only
    created_at: datetime | None = None
    error_code: int | None = None
    answered_by: Answerer | None = None
    raw_answered_by: str | None = None
    duration_s: int | None = None
    price: ProviderPrice = ProviderPrice(None, None)


class Notifier(Protocol):
    async def send_sms(self, *, to: str, body: str, status_callback: str) -> ProviderReceipt: ...

    async def place_call(
        self,
        *,
        to: str,
        voice_url: str,
        status_callback: str,
        amd: AmdRequest | None,
        ring_timeout_s: int,
    ) -> ProviderReceipt: ...

    async def update_call(self, *, sid: str, twiml: str) -> None:
        """Replace what a live call is doing (e.g. leave a voicemail once the beep came)."""
        ...

    async def lookup(self, *, channel: Channel, sid: str) -> SendLookup:
        """The send's resource: its status, AnsweredBy, error and price."""
        ...

    async def find_sends(self, *, channel: Channel, to: str, since: datetime) -> list[SendLookup]:
        """Sends to ``to`` from our number created at or after ``since`` (to settle a send
        whose create request got no answer: did it reach the provider?)."""
        ...

    async def close(self) -> None: ...
