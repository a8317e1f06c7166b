"""The ``data`` of the notice events (docs/webhooks.md, Notices): what the platform needs to
show the notice in its own app, or to know a reminder went out or the refund moved on.

No phone numbers or contact names: a reminder names its channel, step and attempt only.
"""

from __future__ import annotations

from typing import Any

from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from db.models import InAppNotice, NotificationAttempt, Refund
from platform_webhooks.types import (
    NOTICE_ACKNOWLEDGED,
    NOTICE_CREATED,
    NOTICE_READ,
    REMINDER_SENT,
    STAGE_CHANGED,
)

__all__ = ["NoticeSubjectMissingError", "notice_data"]


class NoticeSubjectMissingError(LookupError):
    """The notice or send the event is about is not (or no longer) there."""


def _iso(value: Any) -> str | None:
    return value.isoformat() if value is not None else None


async def notice_data(
    session: AsyncSession, kind: str, subject: str, refund: Refund
) -> dict[str, Any]:
    if kind in (NOTICE_CREATED, NOTICE_READ, NOTICE_ACKNOWLEDGED):
        statement = select(InAppNotice).where(InAppNotice.idempotency_key == subject)
        notice = (await session.exec(statement)).first()
        if notice is None or notice.refund_id != refund.refund_id:
            raise NoticeSubjectMissingError(f"notice {subject} of {refund.refund_id} not found")
        data: dict[str, Any] = {
            "notice": {
                "id": notice.id,
                "message": notice.message,
                "created_at": _iso(notice.created_at),
                "read_at": _iso(notice.read_at),
                "acknowledged_at": _iso(notice.acknowledged_at),
            }
        }
        return data
    if kind == REMINDER_SENT:
        by_key = select(NotificationAttempt).where(NotificationAttempt.idempotency_key == subject)
        attempt = (await session.exec(by_key)).first()
        if attempt is None or attempt.refund_id != refund.refund_id:
            raise NoticeSubjectMissingError(f"send {subject} of {refund.refund_id} not found")
        return {
            "reminder": {
                "channel": attempt.channel,
                "step": attempt.step,
                "attempt": attempt.attempt,
                "sent_at": _iso(attempt.updated_at),
                "segments": attempt.segments,
            }
        }
    assert kind == STAGE_CHANGED
    return {"stage": subject, "state": refund.state}
