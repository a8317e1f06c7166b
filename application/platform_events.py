"""The platform's own events on a refund: its resolution, and a moved deadline.

Each event is stored once, keyed by the platform's ``event_id`` (a retry finds it and gets the
same answer), then the watch is told. An untracked refund has no watch: its resolution closes
the row here.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlmodel import select

from application.schemas import DeadlineRequest, ResolutionRequest
from application.services import Services
from application.watch_client import signal_watch
from application.watches import quiet_windows_for
from db.audit import append_audit
from db.models import Merchant, PlatformEvent, Refund, utcnow
from db.platform_events import RESOLUTION, decided_at
from db.upsert import insert_ignore
from domain.vocabulary import RefundState
from workflows.inputs import DeadlineMove, ResolutionEvent

__all__ = [
    "EventConflict",
    "RefundClosed",
    "RefundNotFound",
    "StoredEvent",
    "move_deadline",
    "resolve_refund",
]


class RefundNotFound(LookupError):
    def __init__(self, refund_id: str) -> None:
        super().__init__(f"refund {refund_id} not found")


class EventConflict(ValueError):
    def __init__(self, event_id: str) -> None:
        super().__init__(f"event {event_id} was already used with different content")


class RefundClosed(ValueError):
    def __init__(self, refund_id: str, state: str) -> None:
        super().__init__(f"refund {refund_id} is already closed ({state})")


@dataclass(frozen=True)
class StoredEvent:
    refund: Refund
    duplicate: bool  # this event id was stored before (a retry)
    received_at: datetime  # when the event was first stored


async def _store(
    services: Services, refund_id: str, event_id: str, kind: str, payload: dict[str, Any]
) -> StoredEvent:
    """Store the event once; apply it to the row (a deadline, an untracked resolution)."""
    received_at = utcnow()
    async with services.sessions() as session:
        refund = await session.get(Refund, refund_id)
        if refund is None:
            raise RefundNotFound(refund_id)
        inserted = await insert_ignore(
            session,
            PlatformEvent,
            {
                "event_id": event_id,
                "refund_id": refund_id,
                "kind": kind,
                "payload": payload,
                "received_at": received_at,
            },
            ["event_id"],
        )
        if not inserted:
            statement = select(PlatformEvent).where(PlatformEvent.event_id == event_id)
            earlier = (await session.exec(statement)).first()
            if earlier is None or earlier.refund_id != refund_id or earlier.payload != payload:
                raise EventConflict(event_id)
            return StoredEvent(refund, True, earlier.received_at)
        if refund.state not in (RefundState.OPEN, RefundState.UNTRACKED):
            closed = refund.state  # read before the rollback expires the row
            await session.rollback()
            raise RefundClosed(refund_id, closed)
        if kind == "deadline":
            refund.deadline_at = DeadlineRequest.model_validate(payload).deadline_at
        elif refund.state == RefundState.UNTRACKED:
            refund.state, refund.resolution, refund.closed_at = (
                RefundState.RESOLVED,
                payload["resolution"],
                utcnow(),
            )
        session.add(refund)
        await append_audit(
            session,
            kind=f"platform.{kind}",
            actor="platform",
            refund_id=refund_id,
            merchant_id=refund.merchant_id,
            detail=payload,
            dedup_key=f"platform:{event_id}",
        )
        await session.commit()
        return StoredEvent(refund, False, received_at)


async def resolve_refund(
    services: Services, refund_id: str, request: ResolutionRequest
) -> StoredEvent:
    payload = request.model_dump(mode="json", exclude_none=True)
    stored = await _store(services, refund_id, request.event_id, RESOLUTION, payload)
    resolved_at = decided_at(payload, stored.received_at)
    if stored.refund.tracked:
        resolution = ResolutionEvent(request.resolution, request.event_id, resolved_at)
        await signal_watch(services, refund_id, "resolve", resolution)
    return stored


async def move_deadline(
    services: Services, refund_id: str, request: DeadlineRequest
) -> StoredEvent:
    payload = request.model_dump(mode="json")
    stored = await _store(services, refund_id, request.event_id, "deadline", payload)
    refund = stored.refund
    if refund.tracked:
        async with services.sessions() as session:
            merchant = await session.get(Merchant, refund.merchant_id)
        assert merchant is not None
        windows = quiet_windows_for(merchant, services.policy, utcnow(), request.deadline_at)
        move = DeadlineMove(request.deadline_at, request.event_id, windows)
        await signal_watch(services, refund_id, "move_deadline", move)
    return stored
