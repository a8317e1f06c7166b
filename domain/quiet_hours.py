"""Quiet hours: a merchant's local night turned into UTC windows the workflow can plan around.

Time-zone rules are I/O (tz database) and do not belong inside a workflow, so the API computes
the windows between intake and the deadline and passes them in; the planner only compares
instants.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

__all__ = ["QuietHours", "parse_clock", "quiet_windows"]

_CLOCK = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$")


def parse_clock(value: str) -> time:
    match = _CLOCK.match(value)
    if not match:
        raise ValueError(f"{value!r} is not a 24-hour time such as 21:00")
    return time(int(match.group(1)), int(match.group(2)))


@dataclass(frozen=True)
class QuietHours:
    start: str  # local "HH:MM" when quiet begins, e.g. "21:00"
    end: str  # local "HH:MM" when it ends, e.g. "08:00" (may be the next day)


def quiet_windows(
    hours: QuietHours | None, timezone: str, start: datetime, until: datetime
) -> list[tuple[datetime, datetime]]:
    """UTC (begin, end) intervals of quiet time overlapping [start, until], merged, in order."""
    if hours is None or hours.start == hours.end:
        return []
    zone = ZoneInfo(timezone)
    begin_clock, end_clock = parse_clock(hours.start), parse_clock(hours.end)
    windows: list[tuple[datetime, datetime]] = []
    day = start.astimezone(zone).date() - timedelta(days=1)
    last = until.astimezone(zone).date()
    while day <= last:
        begin = datetime.combine(day, begin_clock, zone)
        end_day = day if end_clock > begin_clock else day + timedelta(days=1)
        end = datetime.combine(end_day, end_clock, zone)
        if end > start and begin < until:
            windows.append((begin.astimezone(UTC), end.astimezone(UTC)))
        day += timedelta(days=1)
    return windows
