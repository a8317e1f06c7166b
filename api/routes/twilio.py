"""Twilio webhooks: status callbacks and inbound SMS (the voice script is in voice.py).

Each one is signed (checked before anything is read or written), records what it learnt
exactly once, then tells the workflow. A retried or duplicated callback changes nothing; the
workflow ignores messages it has seen, so re-telling it after a crash is harmless.
"""

from __future__ import annotations

import re
from typing import Annotated

import structlog
from fastapi import APIRouter, Depends, Query, Response
from twilio.twiml.messaging_response import MessagingResponse

from api.inbound_sms import handle_inbound_sms
from api.services import Services, get_services
from api.twilio_common import attempt_for_key, tell_workflow, xml
from api.twilio_signature import SignedForm
from db.attempts import append_status
from workflows.inputs import NotificationStatus

router = APIRouter(prefix="/twilio", tags=["twilio webhooks"], include_in_schema=True)
log = structlog.get_logger(__name__)

Svc = Annotated[Services, Depends(get_services)]
Key = Annotated[str, Query(min_length=1, max_length=200, pattern=r"^[^\x00]+$")]

_SMS_FINAL = {"delivered", "undelivered", "failed"}
_CALL_FINAL = {"completed", "busy", "no-answer", "failed", "canceled"}
_KEYS = {"1": "handle_now", "2": "dispute"}
_VOICE = {"zh-CN": "zh-CN", "en": "en-US"}


def _small_int(value: str) -> int | None:
    """ASCII digits only: str.isdigit() also accepts '²', which int() refuses."""
    return int(value) if re.fullmatch(r"[0-9]{1,9}", value) else None


async def _status_callback(
    services: Services, key: str, channel: str, status: str, form: dict[str, str]
) -> Response:
    sid = form.get("MessageSid") or form.get("CallSid")
    error_code = _small_int(form.get("ErrorCode", ""))
    answered_by = form.get("AnsweredBy") or None
    async with services.sessions() as session:
        attempt = await attempt_for_key(session, key, for_update=True)
        if attempt is None:
            return Response(status_code=204)
        if attempt.provider_sid is None and sid:
            attempt.provider_sid = sid  # a send whose reply we never saw: now we know
        changed = append_status(
            attempt,
            status,
            source="provider",
            error_code=error_code,
            answered_by=answered_by,
            duration=form.get("CallDuration"),
        )
        if changed:
            attempt.error_code = error_code or attempt.error_code
            attempt.answered_by = answered_by or attempt.answered_by
            duration = _small_int(form.get("CallDuration", ""))
            if duration is not None:
                attempt.duration_seconds = duration
            session.add(attempt)
            await session.commit()
        refund_id = attempt.refund_id
    final = _SMS_FINAL if channel == "sms" else _CALL_FINAL
    if status in final:
        await tell_workflow(
            services,
            refund_id,
            "notification_status",
            NotificationStatus(key, channel, status, error_code, answered_by),
        )
    return Response(status_code=204)


@router.post("/status/sms", status_code=204)
async def sms_status(key: Key, form: SignedForm, services: Svc) -> Response:
    return await _status_callback(services, key, "sms", form.get("MessageStatus", ""), form)


@router.post("/status/call", status_code=204)
async def call_status(key: Key, form: SignedForm, services: Svc) -> Response:
    return await _status_callback(services, key, "call", form.get("CallStatus", ""), form)


@router.post("/sms")
async def inbound_sms(form: SignedForm, services: Svc) -> Response:
    reply, answer = await handle_inbound_sms(services, form)
    if answer is not None:
        refund_id, merchant_answer = answer
        await tell_workflow(services, refund_id, "merchant_answered", merchant_answer)
    response = MessagingResponse()
    if reply:
        response.message(reply)
    return xml(response)
