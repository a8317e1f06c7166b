"""Pieces every Twilio webhook route uses: TwiML responses, telling the workflow, attempts."""

from __future__ import annotations

import structlog
from fastapi import Response
from sqlmodel.ext.asyncio.session import AsyncSession
from temporalio.service import RPCError, RPCStatusCode
from twilio.twiml.messaging_response import MessagingResponse
from twilio.twiml.voice_response import VoiceResponse

from api.services import Services
from db.attempts import attempt_by_key
from db.models import NotificationAttempt
from workflows.starter import watch_handle

__all__ = ["attempt_for_key", "tell_workflow", "xml"]

log = structlog.get_logger(__name__)


def xml(body: VoiceResponse | MessagingResponse) -> Response:
    return Response(content=str(body), media_type="application/xml")


async def tell_workflow(services: Services, refund_id: str, signal: str, arg: object) -> None:
    """Signal the refund's watch; a watch that already finished is fine (the record stands)."""
    try:
        await watch_handle(services.temporal, refund_id).signal(signal, arg)
    except RPCError as err:
        if err.status != RPCStatusCode.NOT_FOUND:
            raise  # 5xx: Twilio retries the callback, and the record is idempotent
        log.info("workflow_already_closed", refund_id=refund_id, signal=signal)


async def attempt_for_key(
    session: AsyncSession, key: str, *, for_update: bool = False
) -> NotificationAttempt | None:
    attempt = await attempt_by_key(session, key, for_update=for_update)
    if attempt is None:
        log.warning("callback_for_unknown_attempt", idempotency_key=key)
    return attempt
