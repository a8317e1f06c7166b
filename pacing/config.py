"""How fast each channel may send, and how the waiting sends poll for their turn."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from config.settings import Settings

__all__ = ["CALL", "SMS", "PacingConfig"]

CALL = "call"
SMS = "sms"


@dataclass(frozen=True)
class PacingConfig:
    """Per channel, at most ``rates[channel]`` grants in any ``window_seconds``.

    ``margin_seconds`` widens the window the pacer counts in, so that the jitter between a
    grant and the provider receiving the request (a few milliseconds of database commit and
    HTTP) does not put two requests closer than the provider's window.
    """

    rates: Mapping[str, int] = field(
        default_factory=lambda: MappingProxyType({CALL: 1, SMS: 1})  # Twilio's defaults
    )
    window_seconds: float = 1.0
    margin_seconds: float = 0.05
    # A waiter far back in the queue sleeps at most this long between looks at its ticket
    # (and heartbeats at least this often).
    max_poll_seconds: float = 2.0
    # Granted tickets older than this are deleted (an activity retry comes much sooner), and so
    # are waiting tickets enqueued longer ago (a waiter still alive puts its ticket back).
    retention_seconds: float = 3600.0
    cleanup_every_seconds: float = 60.0
    # A waiter writes its recomputed priority back once it moved by more than this share of
    # itself (pacing/priority.py): the time left shrinks continuously, and a write at every
    # look of every waiter would cost more than the order it buys.
    reprioritise_share: float = 0.01

    def __post_init__(self) -> None:
        for channel, rate in self.rates.items():
            if rate < 1:
                raise ValueError(f"pacing rate for {channel!r} must be at least 1, got {rate}")
        if self.reprioritise_share < 0:
            raise ValueError("reprioritise_share cannot be negative")
        if self.window_seconds <= 0 or self.margin_seconds < 0 or self.max_poll_seconds <= 0:
            raise ValueError("pacing window and poll times must be positive")
        object.__setattr__(self, "rates", MappingProxyType(dict(self.rates)))

    @classmethod
    def from_settings(cls, settings: Settings) -> PacingConfig:
        return cls(rates={CALL: settings.calls_per_second, SMS: settings.sms_per_second})

    @property
    def span_seconds(self) -> float:
        """The window grants are counted in."""
        return self.window_seconds + self.margin_seconds

    def limit(self, channel: str) -> int:
        try:
            return self.rates[channel]
        except KeyError:
            known = ", ".join(sorted(self.rates))
            raise ValueError(f"no pacing rate for channel {channel!r} (known: {known})") from None
