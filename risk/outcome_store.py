"""Risk feedback in the database: record how a refund ended per buyer and device, read it back.

Sessions are passed in and not committed here: the caller's transaction decides.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import and_, or_
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlmodel import col, func, select
from sqlmodel.ext.asyncio.session import AsyncSession

from db.models import BuyerOutcome, Refund, utcnow
from db.upsert import insert_ignore
from risk.buyer_history import BuyerHistory, OutcomeCounts, PriorOutcome
from risk.rules import RiskRules
from risk.signals import RefundSignals

__all__ = ["history_for_intake", "load_history", "record_outcomes", "subjects_of"]

_BUYER, _DEVICE = "buyer", "device"
_KNOWN = frozenset(outcome.value for outcome in PriorOutcome)


def subjects_of(signals: dict[str, Any]) -> list[tuple[str, str]]:
    """(kind, id) for the buyer and device a refund's stored signals name."""
    found = [(_BUYER, signals.get("buyer_id")), (_DEVICE, signals.get("device_id"))]
    return [(kind, subject) for kind, subject in found if isinstance(subject, str) and subject]


async def record_outcomes(session: AsyncSession, refund: Refund, outcomes: Sequence[str]) -> None:
    """One row per outcome and subject; recording the same refund's outcome again is a no-op."""
    known = [PriorOutcome(outcome) for outcome in outcomes]  # ValueError on a typo
    now = utcnow()
    for kind, subject in subjects_of(refund.signals):
        for outcome in dict.fromkeys(known):
            await insert_ignore(
                session,
                BuyerOutcome,
                {
                    "refund_id": refund.refund_id,
                    "subject_kind": kind,
                    "subject_id": subject,
                    "outcome": outcome.value,
                    "recorded_at": now,
                },
                ["refund_id", "subject_kind", "outcome"],
            )


async def load_history(
    db: AsyncSession | AsyncConnection, buyer_id: str | None, device_id: str | None, since: datetime
) -> BuyerHistory:
    """Counts per outcome since ``since``: one aggregate query on the subject_id index.

    The device's counts leave out refunds already counted for this buyer.
    """
    if buyer_id is None and device_id is None:
        return BuyerHistory()
    table = BuyerOutcome
    kind, subject = col(table.subject_kind), col(table.subject_id)
    wanted = []
    if buyer_id is not None:
        wanted.append(and_(subject == buyer_id, kind == _BUYER))
    if device_id is not None:
        device = and_(subject == device_id, kind == _DEVICE)
        if buyer_id is not None:
            buyers_own = select(col(table.refund_id)).where(subject == buyer_id, kind == _BUYER)
            device = and_(device, col(table.refund_id).not_in(buyers_own))
        wanted.append(device)
    statement = (
        select(kind, col(table.outcome), func.count())
        .where(or_(*wanted), col(table.recorded_at) >= since)
        .group_by(kind, col(table.outcome))
    )
    counts: dict[str, dict[str, int]] = defaultdict(dict)
    conn = await db.connection() if isinstance(db, AsyncSession) else db
    for row_kind, outcome, count in (await conn.execute(statement)).all():
        if outcome in _KNOWN:  # a row from a newer version's vocabulary is not scored here
            counts[row_kind][outcome] = count
    return BuyerHistory(
        buyer=OutcomeCounts(**counts[_BUYER]) if buyer_id is not None else None,
        device=OutcomeCounts(**counts[_DEVICE]) if device_id is not None else None,
    )


async def history_for_intake(
    db: AsyncSession | AsyncConnection, signals: RefundSignals, rules: RiskRules
) -> BuyerHistory | None:
    """The history `assess` needs, or None (no query) without ids or without history points."""
    if not rules.history.scores_anything or (
        signals.buyer_id is None and signals.device_id is None
    ):
        return None
    since = rules.history.since(utcnow())
    return await load_history(db, signals.buyer_id, signals.device_id, since)
