"""One signed HTTP attempt to deliver an event, and what its answer means.

- 2xx: acknowledged. The event is never sent again.
- 410 Gone: the platform refuses this event for good; recorded, not retried.
- anything else (3xx — redirects are not followed —, other 4xx, 5xx, timeouts, refused
  connections): not acknowledged, retried with backoff. A 400/401/404 usually means a receiver
  being deployed or misconfigured, and the platform must still get the merchant's decision once
  it is fixed.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass

import httpx

from platform_webhooks.signing import EVENT_ID_HEADER, EVENT_TYPE_HEADER, SIGNATURE_HEADER, sign

__all__ = ["ATTEMPT_HEADER", "AttemptOutcome", "post_event"]

ATTEMPT_HEADER = "RefundWatch-Delivery-Attempt"
_USER_AGENT = "refundwatch-webhooks/1"
_ERROR_MAX = 500


@dataclass(frozen=True)
class AttemptOutcome:
    status_code: int | None  # None: no HTTP answer (timeout, connection refused)
    error: str | None  # None when acknowledged
    duration_ms: int
    retry_after_s: int | None = None  # the receiver's Retry-After, in seconds, if it sent one

    @property
    def acknowledged(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300

    @property
    def refused(self) -> bool:
        return self.status_code == 410


def _retry_after(response: httpx.Response) -> int | None:
    value = response.headers.get("retry-after", "").strip()
    return int(value) if value.isascii() and value.isdigit() else None


def _describe(response: httpx.Response) -> str:
    text = f"HTTP {response.status_code}"
    if 300 <= response.status_code < 400:
        return text + " (redirects are not followed: configure the final URL)"
    snippet = " ".join(response.text.split())[:200]
    return f"{text}: {snippet}" if snippet else text


async def post_event(
    http: httpx.AsyncClient,
    url: str,
    secrets: Sequence[str],
    *,
    event_id: str,
    event_type: str,
    body: bytes,
    attempt: int,
) -> AttemptOutcome:
    """POST ``body`` signed now; never raises for network trouble, it is an outcome too."""
    headers = {
        "Content-Type": "application/json",
        "User-Agent": _USER_AGENT,
        SIGNATURE_HEADER: sign(secrets, int(time.time()), body),
        EVENT_ID_HEADER: event_id,
        EVENT_TYPE_HEADER: event_type,
        ATTEMPT_HEADER: str(attempt),
    }
    started = time.monotonic()
    try:
        response = await http.post(url, content=body, headers=headers)
    except httpx.TimeoutException as err:
        error = f"timed out ({type(err).__name__})"
        return AttemptOutcome(None, error, _elapsed_ms(started))
    except httpx.HTTPError as err:
        error = f"{type(err).__name__}: {err}"[:_ERROR_MAX]
        return AttemptOutcome(None, error, _elapsed_ms(started))
    elapsed = _elapsed_ms(started)
    if 200 <= response.status_code < 300:
        return AttemptOutcome(response.status_code, None, elapsed)
    return AttemptOutcome(
        response.status_code, _describe(response)[:_ERROR_MAX], elapsed, _retry_after(response)
    )


def _elapsed_ms(started: float) -> int:
    return int((time.monotonic() - started) * 1000)
