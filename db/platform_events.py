"""The platform's stored decisions: when a resolution counts as taken, and reading it back.

A resolution counts from the platform's own ``resolved_at`` when it sent one, else from when we
first stored the event: a retry after a 503 must not turn a decision taken in time into a late
one. The API signals the watch with that time; a watch whose deadline fires before the signal
arrives reads the stored event the same way (activities/records.read_stored_resolution).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from db.models import PlatformEvent

__all__ = ["RESOLUTION", "decided_at", "first_resolution"]

RESOLUTION = "resolution"  # PlatformEvent.kind of a resolution


def decided_at(payload: dict[str, Any], received_at: datetime) -> datetime:
    """When the platform decided: its ``resolved_at`` (ISO 8601 as stored), else received_at."""
    given = payload.get("resolved_at")
    return datetime.fromisoformat(str(given)) if given else received_at


async def first_resolution(session: AsyncSession, refund_id: str) -> PlatformEvent | None:
    """The refund's first stored resolution (the watch takes the first; repeats are ignored)."""
    statement = (
        select(PlatformEvent)
        .where(PlatformEvent.refund_id == refund_id, PlatformEvent.kind == RESOLUTION)
        .order_by(col(PlatformEvent.received_at), col(PlatformEvent.id))
        .limit(1)
    )
    return (await session.exec(statement)).first()
