"""Platform calls on refunds: intake, resolution, deadline moves."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any

import structlog
from fastapi import APIRouter, Depends, HTTPException, Response, status
from sqlmodel import select
from temporalio.service import RPCError

from api.auth import Caller, require_platform
from api.intake import IntakeConflict, UnknownMerchant, quiet_windows_for, take_refund
from api.schemas import (
    DeadlineRequest,
    PlatformEventOut,
    RefundIn,
    RefundIntakeOut,
    ResolutionRequest,
)
from api.services import Services, get_services
from api.watch_signals import signal_watch
from db.audit import append_audit
from db.models import Merchant, PlatformEvent, Refund, utcnow
from db.upsert import insert_ignore
from workflows.inputs import DeadlineMove, Resolution

router = APIRouter(prefix="/v1/refunds", tags=["refunds"])
log = structlog.get_logger(__name__)

Platform = Annotated[Caller, Depends(require_platform)]
Svc = Annotated[Services, Depends(get_services)]


@router.post(
    "",
    response_model=RefundIntakeOut,
    status_code=status.HTTP_201_CREATED,
    responses={
        200: {"description": "The same refund was received before; same answer"},
        409: {"description": "Same refund_id, different content; names the fields"},
        422: {"description": "Invalid payload or unknown merchant"},
        503: {"description": "Stored, but the watch could not start yet; retry the request"},
    },
)
async def receive_refund(
    body: RefundIn, response: Response, services: Svc, _caller: Platform
) -> RefundIntakeOut:
    try:
        result = await take_refund(services, body)
    except IntakeConflict as conflict:
        raise HTTPException(
            status.HTTP_409_CONFLICT,
            {
                "message": f"refund {body.refund_id} was already received with different content",
                "fields": conflict.fields,
            },
        ) from None
    except UnknownMerchant:
        raise HTTPException(
            status.HTTP_422_UNPROCESSABLE_CONTENT,
            [
                {
                    "loc": ["body", "merchant_id"],
                    "msg": f"unknown merchant {body.merchant_id!r}: "
                    "create it with POST /v1/merchants",
                    "type": "unknown_merchant",
                }
            ],
        ) from None
    except RPCError as err:
        log.error("watch_start_failed", refund_id=body.refund_id, error=str(err))
        raise HTTPException(
            status.HTTP_503_SERVICE_UNAVAILABLE,
            "the refund is stored but its watch could not start; send the same request again",
        ) from None
    if not result.created:
        response.status_code = status.HTTP_200_OK
    return result.body


@dataclass(frozen=True)
class _Stored:
    refund: Refund
    duplicate: bool  # this event id was stored before (a retry)
    received_at: datetime  # when the event was first stored


async def _platform_event(
    services: Services, refund_id: str, event_id: str, kind: str, payload: dict[str, Any]
) -> _Stored:
    """Store the event once."""
    received_at = utcnow()
    async with services.sessions() as session:
        refund = await session.get(Refund, refund_id)
        if refund is None:
            raise HTTPException(status.HTTP_404_NOT_FOUND, f"refund {refund_id} not found")
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
                raise HTTPException(
                    status.HTTP_409_CONFLICT,
                    f"event {event_id} was already used with different content",
                )
            return _Stored(refund, True, earlier.received_at)
        if refund.state not in ("open", "untracked"):
            closed = refund.state  # read before the rollback expires the row
            await session.rollback()
            raise HTTPException(
                status.HTTP_409_CONFLICT, f"refund {refund_id} is already closed ({closed})"
            )
        if kind == "deadline":
            refund.deadline_at = DeadlineRequest.model_validate(payload).deadline_at
        elif refund.state == "untracked":
            refund.state, refund.resolution, refund.closed_at = (
                "resolved",
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
        return _Stored(refund, False, received_at)


@router.post("/{refund_id}/resolution", response_model=PlatformEventOut)
async def resolve_refund(
    refund_id: str, body: ResolutionRequest, services: Svc, _caller: Platform
) -> PlatformEventOut:
    payload = body.model_dump(mode="json", exclude_none=True)
    stored = await _platform_event(services, refund_id, body.event_id, "resolution", payload)
    # Without the platform's own time, the decision counts from when we first stored it: a
    # retry after a 503 must not turn a decision taken in time into a late one.
    resolved_at = body.resolved_at or stored.received_at
    await signal_watch(
        services, stored.refund, "resolve", Resolution(body.resolution, body.event_id, resolved_at)
    )
    return PlatformEventOut(
        refund_id=refund_id,
        event_id=body.event_id,
        duplicate=stored.duplicate,
        state=stored.refund.state,
    )


@router.post("/{refund_id}/deadline", response_model=PlatformEventOut)
async def move_deadline(
    refund_id: str, body: DeadlineRequest, services: Svc, _caller: Platform
) -> PlatformEventOut:
    payload = body.model_dump(mode="json")
    stored = await _platform_event(services, refund_id, body.event_id, "deadline", payload)
    refund = stored.refund
    async with services.sessions() as session:
        merchant = await session.get(Merchant, refund.merchant_id)
    assert merchant is not None
    windows = quiet_windows_for(merchant, services.policy, utcnow(), body.deadline_at)
    await signal_watch(
        services, refund, "move_deadline", DeadlineMove(body.deadline_at, body.event_id, windows)
    )
    return PlatformEventOut(
        refund_id=refund_id, event_id=body.event_id, duplicate=stored.duplicate, state=refund.state
    )
