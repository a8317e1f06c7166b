"""Provider errors, typed: the one place a failure is classified as final, retryable or
ambiguous. Only REST API error codes that Twilio documents for these requests are listed
(twilio.com/docs/api/errors/<code>); delivery failures (30xxx) arrive later, in status callbacks
or on the resource, and are not errors of the request.
"""

from __future__ import annotations

__all__ = [
    "INVALID_NUMBER",
    "OPTED_OUT",
    "AmbiguousProviderError",
    "FinalProviderError",
    "ProviderError",
    "RetryableProviderError",
    "classify_provider_error",
]

OPTED_OUT = 21610  # "Attempt to send to unsubscribed recipient" (replied STOP)
INVALID_NUMBER = 21211
# REST errors on create that will not get better by sending the same request again.
_FINAL_CODES = frozenset(
    {
        21211,  # invalid 'To' phone number
        21214,  # 'To' phone number cannot be reached (calls)
        21215,  # geo permission configuration is not permitting the call
        21216,  # call blocked by Twilio's blocklist
        21217,  # phone number does not appear to be valid (calls)
        21408,  # permission to send an SMS has not been enabled for the region
        21610,  # the recipient replied STOP
        21612,  # 'To' phone number is not currently reachable via SMS
        21614,  # 'To' number is not a valid mobile number
        21635,  # 'To' number cannot be a landline (not SMS-capable)
    }
)
# REST errors that say "not now": too many requests, Twilio's own failure.
_RETRYABLE_CODES = frozenset({20429, 20500, 20503})


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
    """The request may have reached the provider (no answer came back): find out before
    sending again (activities/sends.py resolves it from the provider's own records)."""


def classify_provider_error(
    message: str, *, code: int | None, http_status: int | None
) -> ProviderError:
    if code in _RETRYABLE_CODES or http_status == 429 or (http_status or 0) >= 500:
        return RetryableProviderError(message, code=code, http_status=http_status)
    if code in _FINAL_CODES or (http_status is not None and 400 <= http_status < 500):
        # Any other 4xx is our request's fault: sending it again would fail the same way.
        return FinalProviderError(message, code=code, http_status=http_status)
    return RetryableProviderError(message, code=code, http_status=http_status)
