"""Support reads (support or platform token, read-only): one refund's state, its timeline and
merged history, the at-risk list, the losses summary and a merchant. Full-record reads are audited.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, HTTPException, Query, status
from fastapi.exceptions import RequestValidationError

from api.auth import ReaderCaller
from api.deps import Svc
from db.audit import record_support_view
from support.at_risk import AtRiskRefund, load_at_risk
from support.losses import LossesSummary, losses_summary
from support.merchants import MerchantView, load_merchant_view
from support.periods import MOMENT_PATTERN, PeriodError, parse_moment
from support.platform_webhooks import OutboundEventView, load_outbound_events
from support.refund_history import RefundHistory, load_history
from support.views import RefundView, TimelineEntry, load_refund_view, load_timeline

# No prefix: the refund reads live under /v1/refunds, the support lists under /v1/support.
router = APIRouter(tags=["support"])


@router.get("/v1/refunds/{refund_id}", response_model=RefundView)
async def get_refund(refund_id: str, services: Svc, caller: ReaderCaller) -> RefundView:
    async with services.sessions() as session:
        view = await load_refund_view(session, refund_id)
        if view is None:
            raise HTTPException(status.HTTP_404_NOT_FOUND, f"refund {refund_id} not found")
        await record_support_view(
            session,
            actor=caller.role.value,
            viewer=caller.viewer,
            view="refund",
            refund_id=refund_id,
            merchant_id=view.merchant_id,
        )
    return view


@router.get("/v1/refunds/{refund_id}/timeline", response_model=list[TimelineEntry])
async def get_timeline(refund_id: str, services: Svc, _caller: ReaderCaller) -> list[TimelineEntry]:
    async with services.sessions() as session:
        timeline = await load_timeline(session, refund_id)
    if timeline is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"refund {refund_id} not found")
    return timeline


@router.get("/v1/support/refunds/{refund_id}/history", response_model=RefundHistory)
async def get_history(refund_id: str, services: Svc, caller: ReaderCaller) -> RefundHistory:
    """Our audit records merged with the Temporal workflow history, each entry with its source."""
    async with services.sessions() as session:
        history = await load_history(session, services.temporal, refund_id)
        if history is None:
            raise HTTPException(status.HTTP_404_NOT_FOUND, f"refund {refund_id} not found")
        await record_support_view(
            session,
            actor=caller.role.value,
            viewer=caller.viewer,
            view="refund.history",
            refund_id=refund_id,
            merchant_id=history.refund.merchant_id,
        )
    return history


@router.get(
    "/v1/support/refunds/{refund_id}/outbound-events", response_model=list[OutboundEventView]
)
async def get_outbound_events(
    refund_id: str, services: Svc, caller: ReaderCaller
) -> list[OutboundEventView]:
    """The webhooks told to the platform about this refund, each with every delivery attempt
    (status code or error, duration). See docs/webhooks.md."""
    async with services.sessions() as session:
        events = await load_outbound_events(session, refund_id)
        if events is None:
            raise HTTPException(status.HTTP_404_NOT_FOUND, f"refund {refund_id} not found")
        await record_support_view(
            session,
            actor=caller.role.value,
            viewer=caller.viewer,
            view="refund.outbound_events",
            refund_id=refund_id,
        )
    return events


@router.get("/v1/support/at-risk", response_model=list[AtRiskRefund])
async def get_at_risk(
    services: Svc,
    _caller: ReaderCaller,
    merchant_id: str | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 200,
) -> list[AtRiskRefund]:
    """Open watched refunds: the nearest deadline first, then the largest amount."""
    async with services.sessions() as session:
        return await load_at_risk(session, merchant_id=merchant_id, limit=limit)


def _moment(value: str, field: str) -> datetime:
    try:
        return parse_moment(value)
    except PeriodError as err:
        raise RequestValidationError(
            [{"loc": ("query", field), "msg": str(err), "type": "value_error", "input": value}]
        ) from None


@router.get("/v1/support/losses", response_model=LossesSummary)
async def get_losses(
    services: Svc,
    _caller: ReaderCaller,
    since: Annotated[
        str,
        Query(
            description="a date (2026-11-01), an ISO time, or an age (7d, 12h)",
            pattern=MOMENT_PATTERN,
        ),
    ] = "7d",
    until: Annotated[
        str, Query(description="same formats; exclusive; default now", pattern=MOMENT_PATTERN)
    ] = "now",
) -> LossesSummary:
    """Saved and lost in ``[since, until)`` and open now, per channel and merchant."""
    start, end = _moment(since, "since"), _moment(until, "until")
    if start >= end:
        raise RequestValidationError(
            [{"loc": ("query", "since"), "msg": "must be before until", "type": "value_error"}]
        )
    async with services.sessions() as session:
        return await losses_summary(session, since=start, until=end)


@router.get("/v1/support/merchants/{merchant_id}", response_model=MerchantView)
async def get_merchant(merchant_id: str, services: Svc, caller: ReaderCaller) -> MerchantView:
    """Masked contacts, SMS opt-out state, open refunds and totals."""
    async with services.sessions() as session:
        view = await load_merchant_view(session, merchant_id)
        if view is None:
            raise HTTPException(status.HTTP_404_NOT_FOUND, f"merchant {merchant_id} not found")
        await record_support_view(
            session,
            actor=caller.role.value,
            viewer=caller.viewer,
            view="merchant",
            merchant_id=merchant_id,
        )
    return view
