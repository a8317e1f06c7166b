"""Reading the time windows support staff type: '2026-11-01', '2026-11-01T08:00+08:00', '7d'."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta

__all__ = ["MOMENT_PATTERN", "PeriodError", "parse_moment"]

# What the parser takes, as a JSON Schema pattern for the API's documentation (ECMA-262: no
# inline flags). A text that matches may still be refused (2026-13-45 is no date).
MOMENT_PATTERN = (
    r"^\s*([Nn][Oo][Ww]|[0-9]{1,9}\s*[mhdwMHDW]|[0-9]{4}-[0-9]{2}-[0-9]{2}"
    r"([T ][0-9]{2}:[0-9]{2}(:[0-9]{2}(\.[0-9]{1,6})?)?([Zz]|[+-][0-9]{2}:?[0-9]{2})?)?)\s*$"
)

_RELATIVE = re.compile(r"^(\d+)\s*([mhdw])$")
_UNITS = {"m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


class PeriodError(ValueError):
    """The text is not a time we understand; the message shows what is accepted."""


def parse_moment(text: str, *, now: datetime | None = None) -> datetime:
    """A date (midnight UTC), an ISO time (UTC without offset) or an age: 30m, 12h, 7d, 2w."""
    now = now or datetime.now(UTC)
    value = text.strip()
    if value.lower() == "now":
        return now
    relative = _RELATIVE.match(value.lower())
    if relative:
        amount, unit = int(relative.group(1)), relative.group(2)
        try:
            return now - timedelta(**{_UNITS[unit]: amount})
        except OverflowError:
            raise PeriodError(f"{text!r} reaches before the year 1") from None
    try:
        if len(value) == 10:
            day = date.fromisoformat(value)
            return datetime(day.year, day.month, day.day, tzinfo=UTC)
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise PeriodError(
            f"{text!r} is not a time: use a date (2026-11-01), an ISO time "
            "(2026-11-01T08:00+08:00) or an age such as 30m, 12h, 7d, 2w"
        ) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
