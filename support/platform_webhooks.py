"""What support sees of the webhooks told to the platform: each event and every HTTP attempt."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from db.models import OutboundDelivery, OutboundEvent, Refund
from platform_webhooks.types import GAVE_UP_PREFIX, NOT_CONFIGURED, delivery_workflow_id

__all__ = ["DeliveryAttemptView", "OutboundEventView", "load_outbound_events"]

# delivered: acknowledged (2xx) · retrying: not yet, Temporal retries with backoff ·
# pending: no attempt yet · refused: 410, not retried · abandoned: retries ran out ·
# not_sent: no REFUNDWATCH_PLATFORM_WEBHOOK_URL when it was due
DeliveryState = Literal["delivered", "retrying", "pending", "refused", "abandoned", "not_sent"]


class DeliveryAttemptView(BaseModel):
    attempt: int
    at: datetime
    status_code: int | None
    error: str | None
    duration_ms: int


class OutboundEventView(BaseModel):
    event_id: str
    type: str
    state: DeliveryState
    created_at: datetime
    delivered_at: datetime | None
    attempts: int
    last_error: str | None
    delivery_workflow_id: str
    payload: dict[str, Any]
    deliveries: list[DeliveryAttemptView]


def _state(event: OutboundEvent, deliveries: list[OutboundDelivery]) -> DeliveryState:
    if event.delivered_at is not None:
        return "delivered"
    if event.last_error == NOT_CONFIGURED:
        return "not_sent"
    if event.last_error and event.last_error.startswith(GAVE_UP_PREFIX):
        return "abandoned"
    if deliveries and deliveries[-1].status_code == 410:
        return "refused"
    return "retrying" if deliveries else "pending"


async def load_outbound_events(
    session: AsyncSession, refund_id: str
) -> list[OutboundEventView] | None:
    """The refund's events, oldest first, each with its attempts; None if no such refund."""
    if await session.get(Refund, refund_id) is None:
        return None
    events = (
        await session.exec(
            select(OutboundEvent)
            .where(OutboundEvent.refund_id == refund_id)
            .order_by(col(OutboundEvent.created_at), col(OutboundEvent.event_id))
        )
    ).all()
    ids = [event.event_id for event in events]
    attempts: dict[str, list[OutboundDelivery]] = {event_id: [] for event_id in ids}
    if ids:
        rows = await session.exec(
            select(OutboundDelivery)
            .where(col(OutboundDelivery.event_id).in_(ids))
            .order_by(col(OutboundDelivery.event_id), col(OutboundDelivery.attempt))
        )
        for row in rows.all():
            attempts[row.event_id].append(row)
    return [
        OutboundEventView(
            event_id=event.event_id,
            type=event.type,
            state=_state(event, attempts[event.event_id]),
            created_at=event.created_at,
            delivered_at=event.delivered_at,
            attempts=event.attempts,
            last_error=event.last_error,
            delivery_workflow_id=delivery_workflow_id(event.event_id),
            payload=event.payload,
            deliveries=[
                DeliveryAttemptView(
                    attempt=row.attempt,
                    at=row.at,
                    status_code=row.status_code,
                    error=row.error,
                    duration_ms=row.duration_ms,
                )
                for row in attempts[event.event_id]
            ],
        )
        for event in events
    ]
