"""The merchant's in-app calls: the notice inbox (read and acknowledged state), and answering."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, HTTPException, Path, Response, status
from pydantic import BaseModel
from sqlmodel import col, select

from api.answer_replies import http_refusal
from api.auth import MerchantCaller
from api.deps import Svc
from application.answers import AnswerIn, AnswerStatus, take_answer
from application.notice_events import tell_inbox_event
from application.schemas import AnswerRequest
from db.models import InAppNotice, Refund, utcnow
from domain.vocabulary import Channel, RefundState
from platform_webhooks.types import NOTICE_ACKNOWLEDGED, NOTICE_READ

router = APIRouter(prefix="/v1/merchant", tags=["merchant app"])
NoticeId = Annotated[int, Path(ge=1, le=2**31 - 1)]


class NoticeOut(BaseModel):
    id: int
    refund_id: str
    message: str
    created_at: datetime
    read_at: datetime | None
    acknowledged_at: datetime | None


class AnswerOut(BaseModel):
    refund_id: str
    recorded: str


def _out(notice: InAppNotice) -> NoticeOut:
    assert notice.id is not None
    return NoticeOut(
        id=notice.id,
        refund_id=notice.refund_id,
        message=notice.message,
        created_at=notice.created_at,
        read_at=notice.read_at,
        acknowledged_at=notice.acknowledged_at,
    )


@router.get("/notices", response_model=list[NoticeOut])
async def list_notices(services: Svc, caller: MerchantCaller) -> list[NoticeOut]:
    """Notices on refunds that are still open; listing them records the read receipt (and
    tells the platform: notice.read, once per notice)."""
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
        fresh = []
        for notice, _ in rows:
            if notice.read_at is None:
                notice.read_at = utcnow()
                session.add(notice)
                fresh.append(notice)
        await session.commit()
        out = [_out(notice) for notice, _ in rows]
    for notice in fresh:
        await tell_inbox_event(services, NOTICE_READ, notice)
    return out


async def _mark(services: Svc, caller: MerchantCaller, notice_id: int, ack: bool) -> NoticeOut:
    async with services.sessions() as session:
        notice = await session.get(InAppNotice, notice_id, with_for_update=True)
        if notice is None or notice.merchant_id != caller.merchant_id:
            # Another merchant's notice is not told apart from a missing one.
            raise HTTPException(status.HTTP_404_NOT_FOUND, f"notice {notice_id} not found")
        told = []
        now = utcnow()
        if notice.read_at is None:
            notice.read_at = now
            told.append(NOTICE_READ)
        if ack and notice.acknowledged_at is None:
            notice.acknowledged_at = now
            told.append(NOTICE_ACKNOWLEDGED)
        session.add(notice)
        await session.commit()
        out = _out(notice)
    for kind in told:
        await tell_inbox_event(services, kind, notice)
    return out


@router.post("/notices/{notice_id}/read", response_model=NoticeOut)
async def read_notice(notice_id: NoticeId, services: Svc, caller: MerchantCaller) -> NoticeOut:
    """Mark one notice read (idempotent: the first read time stands)."""
    return await _mark(services, caller, notice_id, ack=False)


@router.post("/notices/{notice_id}/ack", response_model=NoticeOut)
async def acknowledge_notice(
    notice_id: NoticeId, services: Svc, caller: MerchantCaller
) -> NoticeOut:
    """Acknowledge one notice ("seen, on it"), which also marks it read. Idempotent. This is
    the inbox's state only: an answer about the refund is POST /refunds/{id}/answer."""
    return await _mark(services, caller, notice_id, ack=True)


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
