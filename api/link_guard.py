"""Guessing links is rate-limited: a client refused too often is turned away for a while.

Counted per client address in this API process (a sliding window of refusals); past the
limit every request to /m/ from it gets 429 with Retry-After, before any token is read and
without being recorded, so guessing can neither find a link nor flood the audit log. Several
API processes each keep their own count (the limit is per process; docs/api.md).
"""

from __future__ import annotations

import time
from collections import deque
from dataclasses import dataclass, field

__all__ = ["LinkGuard"]


@dataclass
class LinkGuard:
    limit: int = 20  # refusals allowed per window
    window_s: float = 600.0
    _refusals: dict[str, deque[float]] = field(default_factory=dict)

    def _recent(self, client: str, now: float) -> deque[float]:
        seen = self._refusals.setdefault(client, deque())
        while seen and seen[0] <= now - self.window_s:
            seen.popleft()
        if not seen:
            self._refusals.pop(client, None)
        return seen

    def retry_after(self, client: str) -> int | None:
        """Seconds until ``client`` may try again, or None when it may now."""
        now = time.monotonic()
        seen = self._recent(client, now)
        if len(seen) < self.limit:
            return None
        return max(1, int(seen[0] + self.window_s - now) + 1)

    def refused(self, client: str) -> None:
        now = time.monotonic()
        self._recent(client, now)
        self._refusals.setdefault(client, deque()).append(now)
        if len(self._refusals) > 100_000:  # bounded memory under a spray of addresses
            self._refusals.pop(next(iter(self._refusals)))
