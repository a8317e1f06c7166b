"""Twilio webhooks: status callbacks, the voice script and keypad, inbound SMS.

Each one is signed (checked before anything is read or written), records what it learnt
exactly once, then tells the workflow. A retried or duplicated callback changes nothing; the
workflow ignores messages it has seen, so re-telling it after a crash is harmless.
"""

from __future__ import annotations

from typing import Annotated
from urllib.parse import quote

import structlog
from fastapi import APIRouter, Depends, Query, Response
from sqlmodel.ext.asyncio.session import AsyncSession
from temporalio.service import RPCError, RPCStatusCode
from twilio.twiml.messaging_response import MessagingResponse
from twilio.twiml.voice_response import Gather, VoiceResponse

from api.inbound_sms import handle_inbound_sms
from api.services import Services, get_services
from api.twilio_signature import SignedForm
from db.attempts import append_status, attempt_by_key
from db.models import Merchant, NotificationAttempt, Refund, utcnow
from db.responses import record_response
from domain.money import format_money
from notifier.texts import RefundFacts, call_script, confirmation
from workflows.inputs import MerchantAnswer, NotificationStatus
from workflows.starter import watch_handle

router = APIRouter(prefix="/twilio", tags=["twilio webhooks"], include_in_schema=True)
log = structlog.get_logger(__name__)

Svc = Annotated[Services, Depends(get_services)]
Key = Annotated[str, Query(min_length=1, max_length=200)]

_SMS_FINAL = {"delivered", "undelivered", "failed"}
_CALL_FINAL = {"completed", "busy", "no-answer", "failed", "canceled"}
_KEYS = {"1": "handle_now", "2": "dispute"}
_VOICE = {"zh-CN": "zh-CN", "en": "en-US"}


def _xml(body: VoiceResponse | MessagingResponse) -> Response:
    return Response(content=str(body), media_type="application/xml")


async def _tell_workflow(services: Services, refund_id: str, signal: str, arg: object) -> None:
    try:
        await watch_handle(services.temporal, refund_id).signal(signal, arg)
    except RPCError as err:
        if err.status != RPCStatusCode.NOT_FOUND:
            raise  # 5xx: Twilio retries the callback, and the record is idempotent
        log.info("workflow_already_closed", refund_id=refund_id, signal=signal)


async def _attempt(session: AsyncSession, key: str) -> NotificationAttempt | None:
    attempt = await attempt_by_key(session, key)
    if attempt is None:
        log.warning("callback_for_unknown_attempt", idempotency_key=key)
    return attempt


async def _status_callback(
    services: Services, key: str, channel: str, status: str, form: dict[str, str]
) -> Response:
    sid = form.get("MessageSid") or form.get("CallSid")
    error_code = int(form["ErrorCode"]) if form.get("ErrorCode", "").isdigit() else None
    answered_by = form.get("AnsweredBy") or None
    async with services.sessions() as session:
        attempt = await _attempt(session, key)
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
            if form.get("CallDuration", "").isdigit():
                attempt.duration_seconds = int(form["CallDuration"])
            session.add(attempt)
            await session.commit()
        refund_id = attempt.refund_id
    final = _SMS_FINAL if channel == "sms" else _CALL_FINAL
    if status in final:
        await _tell_workflow(
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


async def _call_context(
    session: AsyncSession, key: str
) -> tuple[NotificationAttempt, Refund, Merchant] | None:
    attempt = await _attempt(session, key)
    if attempt is None:
        return None
    refund = await session.get(Refund, attempt.refund_id)
    merchant = await session.get(Merchant, attempt.merchant_id)
    if refund is None or merchant is None:
        return None
    return attempt, refund, merchant


@router.post("/voice")
async def voice(
    key: Key, form: SignedForm, services: Svc, repeat: Annotated[int, Query(ge=0, le=3)] = 0
) -> Response:
    """The call's script: say what is at stake, then ask for one key."""
    response = VoiceResponse()
    async with services.sessions() as session:
        context = await _call_context(session, key)
        if context is None:
            response.hangup()
            return _xml(response)
        attempt, refund, merchant = context
        language = _VOICE.get(merchant.language, "en-US")
        facts = RefundFacts(
            refund.refund_id,
            refund.order_id,
            format_money(refund.amount_minor, refund.currency),
            refund.deadline_at - utcnow(),
            merchant.language,
        )
        message, prompt = call_script(facts)
        answered_by = form.get("AnsweredBy", "")
        if answered_by.startswith("machine") or answered_by == "fax":
            # A voicemail is not an answer: leave the facts and keep escalating.
            attempt.answered_by = answered_by
            session.add(attempt)
            await session.commit()
            response.say(message, language=language)
            response.hangup()
            return _xml(response)
        if answered_by and attempt.answered_by is None:
            attempt.answered_by = answered_by
            session.add(attempt)
            await session.commit()
    query = f"key={quote(key, safe='')}"
    gather = Gather(
        input="dtmf",
        num_digits=1,
        timeout=6,
        action=f"{services.settings.public_base_url}/twilio/voice/gather?{query}",
        method="POST",
    )
    gather.say(message, language=language)
    gather.say(prompt, language=language)
    response.append(gather)
    if repeat < 1:
        response.redirect(
            f"{services.settings.public_base_url}/twilio/voice?{query}&repeat={repeat + 1}",
            method="POST",
        )
    else:
        response.hangup()
    return _xml(response)


@router.post("/voice/gather")
async def voice_gather(key: Key, form: SignedForm, services: Svc) -> Response:
    digits = form.get("Digits", "")
    call_sid = form.get("CallSid", "")
    response = VoiceResponse()
    base = services.settings.public_base_url
    async with services.sessions() as session:
        context = await _call_context(session, key)
        if context is None:
            response.hangup()
            return _xml(response)
        attempt, refund, merchant = context
        language = _VOICE.get(merchant.language, "en-US")
        action = _KEYS.get(digits)
        if action is None:
            if digits != "*":
                response.say(confirmation("unknown", merchant.language), language=language)
            response.redirect(f"{base}/twilio/voice?key={quote(key, safe='')}", method="POST")
            return _xml(response)
        source = f"call:{call_sid or attempt.provider_sid}:gather"
        await record_response(
            session,
            refund=refund,
            channel="call",
            action=action,
            raw=digits,
            source_event_id=source,
        )
        await session.commit()
        refund_id = refund.refund_id
    await _tell_workflow(
        services, refund_id, "merchant_answered", MerchantAnswer(action, "call", source, utcnow())
    )
    response.say(confirmation(action, merchant.language), language=language)
    response.hangup()
    return _xml(response)


@router.post("/sms")
async def inbound_sms(form: SignedForm, services: Svc) -> Response:
    reply, answer = await handle_inbound_sms(services, form)
    if answer is not None:
        refund_id, merchant_answer = answer
        await _tell_workflow(services, refund_id, "merchant_answered", merchant_answer)
    response = MessagingResponse()
    if reply:
        response.message(reply)
    return _xml(response)
