"""Recording merchant answers exactly once, keyed by the provider's or client's event id."""

from __future__ import annotations

from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from db.audit import append_audit
from db.models import MerchantResponse, Refund, utcnow
from db.upsert import insert_ignore

__all__ = ["record_response"]


async def record_response(
    session: AsyncSession,
    *,
    refund: Refund,
    channel: str,
    action: str,
    raw: str,
    source_event_id: str,
) -> bool:
    """Insert the answer and its audit event; False (and nothing written) for a duplicate."""
    inserted = await insert_ignore(
        session,
        MerchantResponse,
        {
            "source_event_id": source_event_id,
            "refund_id": refund.refund_id,
            "merchant_id": refund.merchant_id,
            "channel": channel,
            "action": action,
            "raw": raw,
            "received_at": utcnow(),
        },
        ["source_event_id"],
    )
    if not inserted:
        return False
    if refund.merchant_answer is None and refund.state == "open":
        refund.merchant_answer = action
        session.add(refund)
    await append_audit(
        session,
        kind="merchant.answered",
        actor="merchant",
        refund_id=refund.refund_id,
        merchant_id=refund.merchant_id,
        detail={"channel": channel, "action": action, "raw": raw, "event": source_event_id},
        dedup_key=f"response:{source_event_id}",
    )
    return True


async def first_response(session: AsyncSession, refund_id: str) -> MerchantResponse | None:
    statement = (
        select(MerchantResponse)
        .where(MerchantResponse.refund_id == refund_id)
        .order_by(MerchantResponse.received_at)  # type: ignore[arg-type]
    )
    return (await session.exec(statement)).first()
