"""The notifier protocol and its typed errors: the one place provider failures are classified."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Protocol

__all__ = [
    "AmbiguousProviderError",
    "FinalProviderError",
    "Notifier",
    "ProviderError",
    "ProviderPrice",
    "ProviderReceipt",
    "RetryableProviderError",
    "classify_provider_error",
]

# Twilio error codes that will not get better by retrying the same request.
OPTED_OUT = 21610
INVALID_NUMBER = 21211
_FINAL_CODES = frozenset(
    {
        21211,  # invalid 'To' number
        21214,  # 'To' number cannot be reached
        21217,  # phone number does not appear to be valid
        21408,  # permission to send to this region not enabled
        21610,  # recipient replied STOP
        21612,  # 'To' number is not currently reachable via SMS
        21614,  # 'To' number is not a valid mobile number (landline)
        13224,  # invalid phone number (voice)
        13227,  # geo permissions
    }
)
_RETRYABLE_CODES = frozenset({20429, 20500, 20503, 31005})


@dataclass(frozen=True)
class ProviderReceipt:
    sid: str
    status: str


@dataclass(frozen=True)
class ProviderPrice:
    """What the provider charged, once it knows (Twilio fills it in after the fact)."""

    cost: Decimal | None  # positive; Twilio reports charges as negative amounts
    unit: str | None


class ProviderError(Exception):
    def __init__(self, message: str, *, code: int | None = None, http_status: int | None = None):
        super().__init__(message)
        self.message = message
        self.code = code
        self.http_status = http_status


class RetryableProviderError(ProviderError):
    """The provider did not take the request (429, 5xx, connection refused): send it again."""


class FinalProviderError(ProviderError):
    """The provider refused for good (invalid number, opted out): fail over, never resend."""


class AmbiguousProviderError(ProviderError):
    """The request may have reached the provider (timeout after sending): never resend blindly."""


def classify_provider_error(
    message: str, *, code: int | None, http_status: int | None
) -> ProviderError:
    if code in _RETRYABLE_CODES or http_status == 429 or (http_status or 0) >= 500:
        return RetryableProviderError(message, code=code, http_status=http_status)
    if code in _FINAL_CODES or (http_status is not None and 400 <= http_status < 500):
        return FinalProviderError(message, code=code, http_status=http_status)
    return RetryableProviderError(message, code=code, http_status=http_status)


class Notifier(Protocol):
    async def send_sms(self, *, to: str, body: str, status_callback: str) -> ProviderReceipt: ...

    async def place_call(
        self,
        *,
        to: str,
        voice_url: str,
        status_callback: str,
        machine_detection: bool,
        ring_timeout_s: int,
    ) -> ProviderReceipt: ...

    async def fetch_price(self, *, channel: str, sid: str) -> ProviderPrice: ...

    async def close(self) -> None: ...
