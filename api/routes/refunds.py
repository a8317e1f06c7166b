"""Platform calls on refunds: intake, resolution, deadline moves."""

from __future__ import annotations

import structlog
from fastapi import APIRouter, HTTPException, Response, status
from temporalio.service import RPCError

from api.auth import PlatformCaller
from api.deps import Svc
from application import platform_events
from application.intake import IntakeConflict, UnknownMerchant, take_refund
from application.intake_batch import take_refunds
from application.platform_events import EventConflict, RefundClosed, RefundNotFound, StoredEvent
from application.schemas import (
    DeadlineRequest,
    PlatformEventOut,
    RefundBatchIn,
    RefundBatchOut,
    RefundIn,
    RefundIntakeOut,
    ResolutionRequest,
)

router = APIRouter(prefix="/v1/refunds", tags=["refunds"])
log = structlog.get_logger(__name__)


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
    body: RefundIn, response: Response, services: Svc, _caller: PlatformCaller
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


@router.post(
    "/batch",
    response_model=RefundBatchOut,
    responses={
        200: {"description": "One result per item, in order, each with its own status"},
        422: {"description": "The envelope itself is invalid (no list, empty, over 500 items)"},
    },
)
async def receive_refunds(
    body: RefundBatchIn, services: Svc, _caller: PlatformCaller
) -> RefundBatchOut:
    """Up to 500 refunds in one request (backfills, reconciliation). Each item is answered as
    ``POST /v1/refunds`` would answer it alone (201, 200, 409, 422, 503), in one transaction."""
    return await take_refunds(services, body.refunds)


def _answer(refund_id: str, event_id: str, stored: StoredEvent) -> PlatformEventOut:
    return PlatformEventOut(
        refund_id=refund_id,
        event_id=event_id,
        duplicate=stored.duplicate,
        state=stored.refund.state,
    )


def _refused(err: Exception) -> HTTPException:
    if isinstance(err, RefundNotFound):
        return HTTPException(status.HTTP_404_NOT_FOUND, str(err))
    return HTTPException(status.HTTP_409_CONFLICT, str(err))


@router.post("/{refund_id}/resolution", response_model=PlatformEventOut)
async def resolve_refund(
    refund_id: str, body: ResolutionRequest, services: Svc, _caller: PlatformCaller
) -> PlatformEventOut:
    try:
        stored = await platform_events.resolve_refund(services, refund_id, body)
    except (RefundNotFound, EventConflict, RefundClosed) as err:
        raise _refused(err) from None
    return _answer(refund_id, body.event_id, stored)


@router.post("/{refund_id}/deadline", response_model=PlatformEventOut)
async def move_deadline(
    refund_id: str, body: DeadlineRequest, services: Svc, _caller: PlatformCaller
) -> PlatformEventOut:
    try:
        stored = await platform_events.move_deadline(services, refund_id, body)
    except (RefundNotFound, EventConflict, RefundClosed) as err:
        raise _refused(err) from None
    return _answer(refund_id, body.event_id, stored)
