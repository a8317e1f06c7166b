"""Twilio webhooks: status callbacks and inbound SMS (the voice script is in voice.py).

Each one is signed (checked before anything is read or written). This is the edge where
Twilio's words become ours (notifier/twilio_words.py); what is learnt is recorded exactly once
and the watch told (application/). A retried or duplicated callback changes nothing.
"""

from __future__ import annotations

import re

import structlog
from fastapi import APIRouter, Response
from twilio.twiml.messaging_response import MessagingResponse

from api.deps import Svc
from api.inbound_sms import handle_inbound_sms
from api.twilio_common import Key, xml
from api.twilio_signature import SignedForm
from application.delivery_reports import ProviderReport, take_delivery_report
from domain.vocabulary import Channel
from notifier.twilio_words import answerer, delivery_state

router = APIRouter(prefix="/twilio", tags=["twilio webhooks"], include_in_schema=True)
log = structlog.get_logger(__name__)


def _small_int(value: str) -> int | None:
    """ASCII digits only: str.isdigit() also accepts '²', which int() refuses."""
    return int(value) if re.fullmatch(r"[0-9]{1,9}", value) else None


async def _status_callback(
    services: Svc, key: str, channel: Channel, status: str, form: dict[str, str]
) -> Response:
    state = delivery_state(status)
    if state is None:
        log.info("provider_status_ignored", idempotency_key=key, status=status[:30])
        return Response(status_code=204)
    raw_answered_by = form.get("AnsweredBy") or None
    await take_delivery_report(
        services,
        ProviderReport(
            idempotency_key=key,
            channel=channel,
            state=state,
            provider_sid=form.get("MessageSid") or form.get("CallSid") or None,
            error_code=_small_int(form.get("ErrorCode", "")),
            answered_by=answerer(raw_answered_by),
            raw_answered_by=raw_answered_by,
            duration_s=_small_int(form.get("CallDuration", "")),
            sequence=_small_int(form.get("SequenceNumber", "")),
        ),
    )
    return Response(status_code=204)


@router.post("/status/sms", status_code=204)
async def sms_status(key: Key, form: SignedForm, services: Svc) -> Response:
    return await _status_callback(services, key, Channel.SMS, form.get("MessageStatus", ""), form)


@router.post("/status/call", status_code=204)
async def call_status(key: Key, form: SignedForm, services: Svc) -> Response:
    return await _status_callback(services, key, Channel.CALL, form.get("CallStatus", ""), form)


@router.post("/sms")
async def inbound_sms(form: SignedForm, services: Svc) -> Response:
    reply = await handle_inbound_sms(services, form)
    response = MessagingResponse()
    if reply:
        response.message(reply)
    return xml(response)
