"""Support reads: one refund's state and its full timeline."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, status

from api.auth import Caller, require_reader
from api.services import Services, get_services
from db.audit import append_audit
from support.views import RefundView, TimelineEntry, load_refund_view, load_timeline

router = APIRouter(prefix="/v1/refunds", tags=["support"])

Reader = Annotated[Caller, Depends(require_reader)]
Svc = Annotated[Services, Depends(get_services)]


@router.get("/{refund_id}", response_model=RefundView)
async def get_refund(refund_id: str, services: Svc, caller: Reader) -> RefundView:
    async with services.sessions() as session:
        view = await load_refund_view(session, refund_id)
        if view is None:
            raise HTTPException(status.HTTP_404_NOT_FOUND, f"refund {refund_id} not found")
        await append_audit(
            session,
            kind="support.viewed",
            actor=caller.role.value,
            refund_id=refund_id,
            merchant_id=view.merchant_id,
            detail={"view": "refund"},
        )
        await session.commit()
    return view


@router.get("/{refund_id}/timeline", response_model=list[TimelineEntry])
async def get_timeline(refund_id: str, services: Svc, _caller: Reader) -> list[TimelineEntry]:
    async with services.sessions() as session:
        timeline = await load_timeline(session, refund_id)
    if timeline is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"refund {refund_id} not found")
    return timeline
