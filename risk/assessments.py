"""The refund's latest risk assessment, as the API and the activities read it."""

from __future__ import annotations

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from db.models import RiskAssessment
from risk.abnormal import is_abnormal

__all__ = ["latest_assessment", "refund_is_abnormal"]


async def latest_assessment(session: AsyncSession, refund_id: str) -> RiskAssessment | None:
    statement = (
        select(RiskAssessment)
        .where(RiskAssessment.refund_id == refund_id)
        .order_by(col(RiskAssessment.id).desc())
        .limit(1)
    )
    return (await session.exec(statement)).first()


async def refund_is_abnormal(session: AsyncSession, refund_id: str) -> bool:
    assessment = await latest_assessment(session, refund_id)
    return assessment is not None and is_abnormal(assessment.reasons)
