"""The merchant's in-app calls: open notices, and answering a refund (a Temporal Update)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, status
from pydantic import BaseModel
from sqlmodel import col, select
from temporalio.client import WorkflowUpdateFailedError
from temporalio.service import RPCError, RPCStatusCode

from api.auth import Caller, require_merchant
from api.schemas import AnswerRequest
from api.services import Services, get_services
from db.models import InAppNotice, Refund, utcnow
from workflows.inputs import InAppAnswer
from workflows.refund_watch import RefundWatchWorkflow
from workflows.starter import watch_handle

router = APIRouter(prefix="/v1/merchant", tags=["merchant app"])

Merchant = Annotated[Caller, Depends(require_merchant)]
Svc = Annotated[Services, Depends(get_services)]


class NoticeOut(BaseModel):
    refund_id: str
    message: str
    created_at: datetime
    read_at: datetime | None


class AnswerOut(BaseModel):
    refund_id: str
    recorded: str


@router.get("/notices", response_model=list[NoticeOut])
async def list_notices(services: Svc, caller: Merchant) -> list[NoticeOut]:
    """Notices on refunds that are still open; listing them records the read receipt."""
    async with services.sessions() as session:
        rows = (
            await session.exec(
                select(InAppNotice, Refund)
                .join(Refund, col(Refund.refund_id) == col(InAppNotice.refund_id))
                .where(InAppNotice.merchant_id == caller.merchant_id, Refund.state == "open")
                .order_by(col(InAppNotice.created_at))
            )
        ).all()
        out = [NoticeOut(**notice.model_dump()) for notice, _ in rows]
        for notice, _ in rows:
            if notice.read_at is None:
                notice.read_at = utcnow()
                session.add(notice)
        await session.commit()
    return out


@router.post("/refunds/{refund_id}/answer", response_model=AnswerOut)
async def answer(refund_id: str, body: AnswerRequest, services: Svc, caller: Merchant) -> AnswerOut:
    assert caller.merchant_id is not None
    handle = watch_handle(services.temporal, refund_id)
    try:
        recorded = await handle.execute_update(
            RefundWatchWorkflow.answer_in_app,
            InAppAnswer(caller.merchant_id, body.action, body.request_id),
        )
    except WorkflowUpdateFailedError as err:
        # The validator refused before anything was written: say why.
        reason = str(err.cause.message if hasattr(err.cause, "message") else err.cause)
        code = (
            status.HTTP_403_FORBIDDEN if "another merchant" in reason else status.HTTP_409_CONFLICT
        )
        raise HTTPException(code, reason) from None
    except RPCError as err:
        if err.status == RPCStatusCode.NOT_FOUND:
            raise HTTPException(
                status.HTTP_409_CONFLICT,
                f"refund {refund_id} is not being watched (closed or unknown)",
            ) from None
        raise
    return AnswerOut(refund_id=refund_id, recorded=recorded)
