"""The ``call_outcomes`` table: one row per call, by the contact's local hour and weekday."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from db.models import CallOutcomeRecord
from db.upsert import insert_ignore

__all__ = ["contact_outcomes", "keep_call_outcome"]


async def keep_call_outcome(
    session: AsyncSession,
    *,
    idempotency_key: str,
    merchant_id: str,
    contact_id: int,
    called_at: datetime,
    timezone: str,
    outcome: str,
) -> bool:
    """Record a call's outcome once (a retry of the same call's key writes nothing)."""
    local = called_at.astimezone(ZoneInfo(timezone))
    values = {
        "idempotency_key": idempotency_key,
        "merchant_id": merchant_id,
        "contact_id": contact_id,
        "called_at": called_at,
        "local_hour": local.hour,
        "weekday": local.weekday(),
        "outcome": outcome,
    }
    return await insert_ignore(session, CallOutcomeRecord, values, ["idempotency_key"])


async def contact_outcomes(
    session: AsyncSession, contact_id: int, since: datetime
) -> list[tuple[int, str]]:
    """(local hour, outcome) of the contact's calls since ``since``, oldest first."""
    statement = (
        select(CallOutcomeRecord.local_hour, CallOutcomeRecord.outcome)
        .where(
            CallOutcomeRecord.contact_id == contact_id,
            col(CallOutcomeRecord.called_at) >= since,
        )
        .order_by(col(CallOutcomeRecord.called_at))
    )
    return [(int(hour), str(outcome)) for hour, outcome in (await session.exec(statement)).all()]
