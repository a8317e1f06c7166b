"""The merchant's in-app calls: open notices, and answering a refund."""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter, HTTPException, Response, status
from pydantic import BaseModel
from sqlmodel import col, select

from api.answer_replies import http_refusal
from api.auth import MerchantCaller
from api.deps import Svc
from application.answers import AnswerIn, AnswerStatus, take_answer
from application.schemas import AnswerRequest
from db.models import InAppNotice, Refund, utcnow
from domain.vocabulary import Channel, RefundState

router = APIRouter(prefix="/v1/merchant", tags=["merchant app"])


class NoticeOut(BaseModel):
    refund_id: str
    message: str
    created_at: datetime
    read_at: datetime | None


class AnswerOut(BaseModel):
    refund_id: str
    recorded: str


@router.get("/notices", response_model=list[NoticeOut])
async def list_notices(services: Svc, caller: MerchantCaller) -> list[NoticeOut]:
    """Notices on refunds that are still open; listing them records the read receipt."""
    async with services.sessions() as session:
        rows = (
            await session.exec(
                select(InAppNotice, Refund)
                .join(Refund, col(Refund.refund_id) == col(InAppNotice.refund_id))
                .where(
                    InAppNotice.merchant_id == caller.merchant_id,
                    Refund.state == RefundState.OPEN,
                )
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


@router.post(
    "/refunds/{refund_id}/answer",
    response_model=AnswerOut,
    responses={
        202: {"description": "Kept: the watch is briefly unreachable; it is told later"},
        403: {"description": "Another merchant's refund"},
        409: {"description": "The answer does not count (closed, not abnormal, disputed)"},
    },
)
async def answer(
    refund_id: str, body: AnswerRequest, response: Response, services: Svc, caller: MerchantCaller
) -> AnswerOut:
    assert caller.merchant_id is not None
    verdict = await take_answer(
        services,
        AnswerIn(
            refund_id=refund_id,
            merchant_id=caller.merchant_id,
            action=body.action,
            channel=Channel.IN_APP,
            source_event_id=f"in_app:{refund_id}:{body.request_id}",
            raw=body.action,
            at=utcnow(),
        ),
    )
    if verdict.status == AnswerStatus.REFUSED:
        code, reason = http_refusal(refund_id, verdict)
        raise HTTPException(code, reason)
    if verdict.status == AnswerStatus.PENDING:
        response.status_code = status.HTTP_202_ACCEPTED
        return AnswerOut(refund_id=refund_id, recorded=AnswerStatus.PENDING)
    assert verdict.recorded is not None
    return AnswerOut(refund_id=refund_id, recorded=verdict.recorded)
