"""Small text helpers shared by the CLI and the pages, so both say things the same way."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

__all__ = ["money_text", "thousands", "time_left_text", "utc_text"]


def thousands(amount: str) -> str:
    """'8999.00' → '8,999.00' (a decimal string, never through float)."""
    return f"{Decimal(amount):,}"


def money_text(amounts: dict[str, str], *, empty: str = "—") -> str:
    """{'CNY': '3000.00', 'USD': '5.00'} → 'CNY 3,000.00 · USD 5.00'."""
    if not amounts:
        return empty
    return " · ".join(f"{currency} {thousands(value)}" for currency, value in amounts.items())


def time_left_text(seconds: int) -> str:
    """'4m 05s', '2h 10m', '3d 4h'; past the deadline: 'overdue 12s'."""
    prefix = "overdue " if seconds < 0 else ""
    left = abs(seconds)
    days, rest = divmod(left, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        text = f"{days}d {hours}h"
    elif hours:
        text = f"{hours}h {minutes:02d}m"
    elif minutes:
        text = f"{minutes}m {secs:02d}s"
    else:
        text = f"{secs}s"
    return prefix + text


def utc_text(moment: datetime, *, seconds: bool = True) -> str:
    """'2026-11-20 14:03:07' in UTC (the pages and the CLI say 'UTC' in their headers)."""
    fmt = "%Y-%m-%d %H:%M:%S" if seconds else "%Y-%m-%d %H:%M"
    return moment.astimezone(UTC).strftime(fmt)
