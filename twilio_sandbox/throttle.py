"""The account's calls per second (CPS): creates beyond it are refused with 429 / 20429.

Real Twilio queues call creates above the account's CPS and answers 429 / 20429 when an
account exceeds its REST API concurrency; the sandbox is stricter and refuses any create that
would put more than the limit in a sliding one-second window, so a client that overshoots its
pacing finds out in tests instead of in production queues.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable

from twilio_sandbox.errors import TwilioApiError

__all__ = ["RateWindow"]


class RateWindow:
    """At most ``limit`` accepted requests in any ``window_seconds``; 0 = unlimited."""

    def __init__(
        self,
        limit: int,
        window_seconds: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.limit = limit
        self._window = window_seconds
        self._clock = clock
        self._accepted: deque[float] = deque()

    def check(self) -> None:
        """Raise Twilio's 429 / 20429 if one more request now would exceed the limit."""
        if not self.limit:
            return
        now = self._clock()
        while self._accepted and self._accepted[0] <= now - self._window:
            self._accepted.popleft()
        if len(self._accepted) >= self.limit:
            raise TwilioApiError(429, 20429, "Too Many Requests")

    def accepted(self) -> None:
        """Count a request that was taken (refused ones do not use the account's capacity)."""
        if self.limit:
            self._accepted.append(self._clock())

    def clear(self) -> None:
        self._accepted.clear()
