"""Outbound SMS and calls behind a small protocol (Twilio, or an in-memory fake for unit tests)."""

from notifier.base import (
    AmbiguousProviderError,
    FinalProviderError,
    Notifier,
    ProviderError,
    ProviderPrice,
    ProviderReceipt,
    RetryableProviderError,
    classify_provider_error,
)
from notifier.fake import FakeNotifier
from notifier.twilio_notifier import TwilioNotifier

__all__ = [
    "AmbiguousProviderError",
    "FakeNotifier",
    "FinalProviderError",
    "Notifier",
    "ProviderError",
    "ProviderPrice",
    "ProviderReceipt",
    "RetryableProviderError",
    "TwilioNotifier",
    "classify_provider_error",
]
