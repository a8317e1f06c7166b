"""The daily losses report: yesterday's summary (UTC), stored once in ``loss_reports`` and logged.

The figures come from :func:`support.losses.losses_summary`, the same numbers support staff see
with ``refundwatch losses``. A day's row is written once and never recomputed, so only finished
days are accepted.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import structlog
from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from db.models import LossReport, utcnow
from db.upsert import insert_ignore
from support.losses import losses_summary

__all__ = [
    "DailyReport",
    "DayNotOver",
    "ensure_day_over",
    "previous_day",
    "report_window",
    "write_daily_report",
]

log = structlog.get_logger(__name__)


class DayNotOver(ValueError):
    """A report for today or a future day would be incomplete and is never rewritten."""


@dataclass(frozen=True)
class DailyReport:
    day: date
    created: bool  # False: the row existed already (an earlier run or another instance)
    summary: dict[str, Any]


def previous_day(now: datetime | None = None) -> date:
    return (now or utcnow()).astimezone(UTC).date() - timedelta(days=1)


def report_window(day: date) -> tuple[datetime, datetime]:
    since = datetime.combine(day, time.min, tzinfo=UTC)
    return since, since + timedelta(days=1)


def ensure_day_over(day: date, *, now: datetime | None = None) -> None:
    if report_window(day)[1] > (now or utcnow()):
        raise DayNotOver(f"{day.isoformat()} is not over yet (UTC): pick an earlier day")


async def _stored(session: AsyncSession, day: date) -> LossReport | None:
    statement = select(LossReport).where(LossReport.day == day.isoformat())
    return (await session.exec(statement)).first()


async def write_daily_report(
    session: AsyncSession, day: date, *, now: datetime | None = None
) -> DailyReport:
    """Compute and store the summary for ``day`` unless it is stored already."""
    ensure_day_over(day, now=now)
    since, until = report_window(day)
    existing = await _stored(session, day)
    if existing is not None:
        return DailyReport(day, created=False, summary=existing.summary)
    summary = (await losses_summary(session, since=since, until=until)).model_dump(mode="json")
    created = await insert_ignore(
        session,
        LossReport,
        {"day": day.isoformat(), "summary": summary, "created_at": utcnow()},
        ["day"],
    )
    await session.commit()
    if not created:  # another instance stored it between our read and our insert
        stored = await _stored(session, day)
        assert stored is not None
        summary = stored.summary
    report = DailyReport(day, created=created, summary=summary)
    if created:
        _log(report)
    return report


def _log(report: DailyReport) -> None:
    totals = report.summary.get("totals", {})
    log.info(
        "loss_report",
        day=report.day.isoformat(),
        saved=totals.get("saved"),
        saved_count=totals.get("saved_count"),
        lost=totals.get("lost"),
        lost_count=totals.get("lost_count"),
        open=totals.get("open"),
        open_count=totals.get("open_count"),
        by_channel={
            row["channel"]: {"saved": row["saved"], "lost": row["lost"]}
            for row in report.summary.get("by_channel", [])
            if row.get("saved_count") or row.get("lost_count")
        },
        merchants=len(report.summary.get("by_merchant", [])),
    )
