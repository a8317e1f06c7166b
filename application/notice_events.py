"""Read receipts and acknowledgements from the merchant's inbox, told to the platform.

The watch tells the platform about notices, reminders and stage changes from workflow code
(workflows/watch/records.py); a read or an acknowledgement happens in the API instead, so the
event is stored here (the same row, payload and deterministic id scheme as the watch's) and its
delivery started as the same ``OutboundDeliveryWorkflow``, retried until acknowledged. If
Temporal cannot be reached the event stays stored, and the scheduler's reconciler starts its
delivery later (``deliver_unstarted_inbox_events``).
"""

from __future__ import annotations

import contextlib
from datetime import datetime, timedelta

import structlog
from sqlmodel import col, select
from temporalio.common import WorkflowIDReusePolicy
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.service import RPCError

from application.services import Services
from db.models import InAppNotice, OutboundEvent, utcnow
from db.upsert import insert_ignore
from platform_webhooks.payloads import build_payload
from platform_webhooks.types import (
    NOTICE_ACKNOWLEDGED,
    NOTICE_READ,
    DeliveryOptions,
    OutboundDeliveryInput,
    OutboundEventInput,
    delivery_workflow_id,
    event_id_for,
)
from workflows.platform_webhooks import OutboundDeliveryWorkflow

__all__ = ["deliver_unstarted_inbox_events", "tell_inbox_event"]

# An inbox event whose delivery has not made a first attempt by then was never started.
UNSTARTED_AFTER = timedelta(minutes=1)

log = structlog.get_logger(__name__)


async def tell_inbox_event(services: Services, kind: str, notice: InAppNotice) -> str | None:
    """Store ``kind`` (notice.read | notice.acknowledged) for the notice once and start its
    delivery; returns the event id (None when notice events are switched off)."""
    settings = services.settings
    if not settings.platform_notice_events:
        return None
    key = notice.idempotency_key
    event_id = event_id_for(f"inbox-{key}", kind, "1")
    request = OutboundEventInput(
        event_id, kind, notice.refund_id, notice.merchant_id, subject=key, workflow_id="api"
    )
    async with services.sessions() as session:
        now = utcnow()
        payload = await build_payload(session, request, now)
        await insert_ignore(
            session,
            OutboundEvent,
            {
                "event_id": event_id,
                "refund_id": notice.refund_id,
                "merchant_id": notice.merchant_id,
                "type": kind,
                "payload": payload,
                "created_at": now,
                "attempts": 0,
            },
            ["event_id"],
        )
        await session.commit()
    await _start_delivery(services, event_id, notice.refund_id, notice.merchant_id)
    return event_id


async def deliver_unstarted_inbox_events(
    services: Services, *, now: datetime | None = None, limit: int = 200
) -> int:
    """Start the delivery of inbox events stored while Temporal was away (no attempt yet,
    older than ``UNSTARTED_AFTER``); the scheduler's reconciler runs this. Returns how many
    were started. A delivery already running or done is left as it is (same workflow id)."""
    cutoff = (now or utcnow()) - UNSTARTED_AFTER
    async with services.sessions() as session:
        rows = (
            await session.exec(
                select(OutboundEvent)
                .where(col(OutboundEvent.type).in_((NOTICE_READ, NOTICE_ACKNOWLEDGED)))
                .where(col(OutboundEvent.delivered_at).is_(None))
                .where(col(OutboundEvent.attempts) == 0)
                .where(col(OutboundEvent.created_at) < cutoff)
                .order_by(col(OutboundEvent.created_at))
                .limit(limit)
            )
        ).all()
    started = 0
    for row in rows:
        if await _start_delivery(services, row.event_id, row.refund_id, row.merchant_id):
            started += 1
    return started


async def _start_delivery(
    services: Services, event_id: str, refund_id: str, merchant_id: str
) -> bool:
    """Start the event's delivery workflow; False when Temporal could not be reached."""
    settings = services.settings
    delivery = DeliveryOptions(
        max_retry_interval_s=settings.platform_webhook_max_retry_interval_s,
        give_up_after_s=settings.platform_webhook_give_up_after_s,
    )
    try:
        with contextlib.suppress(WorkflowAlreadyStartedError):
            await services.temporal.start_workflow(
                OutboundDeliveryWorkflow.run,
                OutboundDeliveryInput(event_id, delivery),
                id=delivery_workflow_id(event_id),
                task_queue=settings.temporal_task_queue,
                id_reuse_policy=WorkflowIDReusePolicy.ALLOW_DUPLICATE_FAILED_ONLY,
            )
    except (RPCError, RuntimeError) as err:
        log.warning(
            "inbox_event_not_started",
            refund_id=refund_id,
            merchant_id=merchant_id,
            event_id=event_id,
            error=type(err).__name__,
        )
        return False
    return True
