"""Outbound SMS and calls behind a small protocol (Twilio, or an in-memory fake for unit tests).

``twilio_words`` is the one place Twilio's statuses and AnsweredBy become our vocabulary;
``errors`` the one place provider failures are classified.
"""

from notifier.base import AmdRequest, Notifier, ProviderPrice, ProviderReceipt, SendLookup
from notifier.errors import (
    AmbiguousProviderError,
    FinalProviderError,
    ProviderError,
    RetryableProviderError,
    classify_provider_error,
)
from notifier.fake import FakeNotifier
from notifier.twilio_notifier import TwilioNotifier

__all__ = [
    "AmbiguousProviderError",
    "AmdRequest",
    "FakeNotifier",
    "FinalProviderError",
    "Notifier",
    "ProviderError",
    "ProviderPrice",
    "ProviderReceipt",
    "RetryableProviderError",
    "SendLookup",
    "TwilioNotifier",
    "classify_provider_error",
]
