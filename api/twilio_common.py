"""Pieces every Twilio webhook route uses: the key parameter, TwiML responses, attempts."""

from __future__ import annotations

from typing import Annotated

import structlog
from fastapi import Query, Response
from sqlmodel.ext.asyncio.session import AsyncSession
from twilio.twiml.messaging_response import MessagingResponse
from twilio.twiml.voice_response import VoiceResponse

from db.attempts import attempt_by_key
from db.models import NotificationAttempt

__all__ = ["Key", "attempt_for_key", "xml"]

log = structlog.get_logger(__name__)

# The attempt's idempotency key, which every callback URL of ours carries.
Key = Annotated[str, Query(min_length=1, max_length=200, pattern=r"^[^\x00]+$")]


def xml(body: VoiceResponse | MessagingResponse) -> Response:
    return Response(content=str(body), media_type="application/xml")


async def attempt_for_key(
    session: AsyncSession, key: str, *, for_update: bool = False
) -> NotificationAttempt | None:
    attempt = await attempt_by_key(session, key, for_update=for_update)
    if attempt is None:
        log.warning("callback_for_unknown_attempt", idempotency_key=key)
    return attempt
