"""Outbound pacing: a per-channel rate limit shared by all workers through the database, that
lets the most valuable waiting send go first. See docs/pacing.md."""

from pacing.config import CALL, SMS, PacingConfig
from pacing.pacer import Pacer
from pacing.priority import (
    URGENCY_FLOOR_SECONDS,
    TicketWorth,
    expected_loss_minor,
    priority_for,
    send_priority,
    send_worth,
)

__all__ = [
    "CALL",
    "SMS",
    "URGENCY_FLOOR_SECONDS",
    "Pacer",
    "PacingConfig",
    "TicketWorth",
    "expected_loss_minor",
    "priority_for",
    "send_priority",
    "send_worth",
]
