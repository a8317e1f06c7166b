"""The account's calls per second (CPS): creates beyond it wait in a queue, as on Twilio.

https://www.twilio.com/docs/voice/api/call: "Calls are rate limited at the account level by
Calls Per Second (CPS). Calls beyond your account's CPS limit will be queued and will execute
at the CPS rate. The queue_time parameter provides an estimate for how long before the call is
executed. … By default, each account is granted one CPS for calls created via POST requests to
the /Calls endpoint.". So the default is 1 CPS and queueing: every create is taken
(201, status `queued`), starts at the next free slot, and reports the wait as `queue_time` (ms).

`cps_overflow: refuse` is the sandbox's harder edge, for tests that want a client's pacing to
show: a create that would put more than the limit in a sliding second answers 429 / 20429.
Twilio answers 20429 for REST API concurrency, not for CPS, so this mode is
stricter than Twilio and never the default. `calls_per_second: 0` is an account without a CPS
limit, kinder than any Twilio account.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from typing import Literal

from twilio_sandbox.errors import TwilioApiError

__all__ = ["CallPacer", "Overflow"]

Overflow = Literal["queue", "refuse"]


class CallPacer:
    """At most ``limit`` calls start in any ``window_seconds``; 0 = unlimited."""

    def __init__(
        self,
        limit: int,
        overflow: Overflow = "queue",
        window_seconds: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.limit = limit
        self.overflow = overflow
        self._window = window_seconds
        self._clock = clock
        self._starts: deque[float] = deque()  # scheduled start times, ascending
        self._admitted: deque[float] = deque()  # when calls actually started

    def _forget_old(self, now: float) -> None:
        while self._starts and self._starts[0] <= now - self._window:
            self._starts.popleft()

    def check(self) -> None:
        """In refuse mode, Twilio's 429 / 20429 if one more call now would exceed the limit."""
        if not self.limit or self.overflow != "refuse":
            return
        now = self._clock()
        self._forget_old(now)
        if len(self._starts) >= self.limit:
            raise TwilioApiError(429, 20429, "Too Many Requests")

    def schedule(self) -> float:
        """Take the next start slot for a call created now: seconds it waits in the queue."""
        if not self.limit:
            return 0.0
        now = self._clock()
        self._forget_old(now)
        start = now
        if len(self._starts) >= self.limit:
            start = max(now, self._starts[-self.limit] + self._window)
        self._starts.append(start)
        return start - now

    def admit(self) -> float:
        """At the end of its queue wait: 0 if the call may start now (and it is counted), else
        how much longer to wait. Scheduling is an estimate; this holds the limit on the starts
        as they happen, whatever the event loop's timing."""
        if not self.limit:
            return 0.0
        now = self._clock()
        while self._admitted and self._admitted[0] <= now - self._window:
            self._admitted.popleft()
        if len(self._admitted) >= self.limit:
            return self._admitted[-self.limit] + self._window - now + 0.001
        self._admitted.append(now)
        return 0.0

    def clear(self) -> None:
        self._starts.clear()
        self._admitted.clear()
