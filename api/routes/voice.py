"""The voice script: what a merchant hears on our call, and what their keys do.

One call walks through every open refund of the merchant: after an answer for one refund, the
next unanswered one (closest deadline first) is presented in the same call. Each key press is
recorded once per call and refund, then the refund's workflow is told.
"""

from __future__ import annotations

from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Depends, Query, Response
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession
from twilio.twiml.voice_response import Gather, VoiceResponse

from api.services import Services, get_services
from api.twilio_common import attempt_for_key, tell_workflow, xml
from api.twilio_signature import SignedForm
from db.facts import message_facts
from db.models import Merchant, NotificationAttempt, Refund, utcnow
from db.responses import record_response
from notifier.texts import RefundFacts, call_script, confirmation, next_refund_intro
from workflows.inputs import MerchantAnswer

router = APIRouter(prefix="/twilio", tags=["twilio webhooks"])

Svc = Annotated[Services, Depends(get_services)]
Key = Annotated[str, Query(min_length=1, max_length=200, pattern=r"^[^\x00]+$")]
RefundParam = Annotated[str | None, Query(max_length=64, pattern=r"^[^\x00]+$")]

_KEYS = {"1": "handle_now", "2": "dispute", "3": "reject"}
_VOICE = {"zh-CN": "zh-CN", "en": "en-US"}


def _query(key: str, refund_id: str) -> str:
    """The signed call URLs carry the attempt's key and the refund being discussed."""
    return f"key={quote(key, safe='')}&refund={quote(refund_id, safe='')}"


async def _context(
    session: AsyncSession, key: str, refund_id: str | None
) -> tuple[NotificationAttempt, Refund, Merchant] | None:
    """The call's attempt and the refund being discussed (the call's own, or a later one of
    the same merchant in a walk-through)."""
    attempt = await attempt_for_key(session, key)
    if attempt is None:
        return None
    refund = await session.get(Refund, refund_id or attempt.refund_id)
    merchant = await session.get(Merchant, attempt.merchant_id)
    if refund is None or merchant is None or refund.merchant_id != attempt.merchant_id:
        return None
    return attempt, refund, merchant


async def _next_open(session: AsyncSession, merchant_id: str, after: str) -> Refund | None:
    statement = (
        select(Refund)
        .where(
            Refund.merchant_id == merchant_id,
            Refund.state == "open",
            col(Refund.merchant_answer).is_(None),
            Refund.refund_id != after,
        )
        .order_by(col(Refund.deadline_at))
        .limit(1)
    )
    return (await session.exec(statement)).first()


def _awaiting_evidence(refund: Refund) -> bool:
    return refund.stage == "disputed" and refund.evidence_due_at is not None


async def _facts(session: AsyncSession, refund: Refund, merchant: Merchant) -> RefundFacts:
    return await message_facts(session, refund, merchant, evidence=_awaiting_evidence(refund))


def _action(digits: str, facts: RefundFacts) -> str | None:
    """The answer a key means for this refund: none while evidence is awaited (the call only
    reminds), and 3 (reject) only where the risk gate found the refund abnormal."""
    action = _KEYS.get(digits)
    if facts.evidence_left is not None or (action == "reject" and not facts.abnormal):
        return None
    return action


def _gather(
    services: Services, key: str, facts: RefundFacts, language: str, intro: str | None = None
) -> Gather:
    message, prompt = call_script(facts)
    query = _query(key, facts.refund_id)
    gather = Gather(
        input="dtmf",
        num_digits=1,
        timeout=6,
        action=f"{services.settings.public_base_url}/twilio/voice/gather?{query}",
        method="POST",
    )
    if intro:
        gather.say(intro, language=language)
    gather.say(message, language=language)
    gather.say(prompt, language=language)
    return gather


@router.post("/voice")
async def voice(
    key: Key,
    form: SignedForm,
    services: Svc,
    refund: RefundParam = None,
    repeat: Annotated[int, Query(ge=0, le=3)] = 0,
) -> Response:
    """Say what is at stake, then ask for one key; no key → say it once more, then hang up."""
    response = VoiceResponse()
    async with services.sessions() as session:
        context = await _context(session, key, refund)
        if context is None:
            response.hangup()
            return xml(response)
        attempt, current, merchant = context
        facts = await _facts(session, current, merchant)
        answered_by = form.get("AnsweredBy", "")
        if answered_by and attempt.answered_by is None:
            attempt.answered_by = answered_by
            session.add(attempt)
            await session.commit()
    if answered_by.startswith("machine") or answered_by == "fax":
        # A voicemail is not an answer: leave the facts and keep escalating.
        message, _ = call_script(facts)
        response.say(message, language=_VOICE.get(merchant.language, "en-US"))
        response.hangup()
        return xml(response)
    response.append(_gather(services, key, facts, _VOICE.get(merchant.language, "en-US")))
    if repeat < 1:
        query = _query(key, current.refund_id)
        response.redirect(
            f"{services.settings.public_base_url}/twilio/voice?{query}&repeat={repeat + 1}",
            method="POST",
        )
    else:
        response.hangup()
    return xml(response)


@router.post("/voice/gather")
async def voice_gather(
    key: Key, form: SignedForm, services: Svc, refund: RefundParam = None
) -> Response:
    digits = form.get("Digits", "")
    call_sid = form.get("CallSid", "")
    response = VoiceResponse()
    async with services.sessions() as session:
        context = await _context(session, key, refund)
        if context is None:
            response.hangup()
            return xml(response)
        attempt, current, merchant = context
        language = _VOICE.get(merchant.language, "en-US")
        action = _action(digits, await _facts(session, current, merchant))
        if action is None:
            if digits != "*":
                response.say(confirmation("unknown", merchant.language), language=language)
            query = _query(key, current.refund_id)
            response.redirect(
                f"{services.settings.public_base_url}/twilio/voice?{query}", method="POST"
            )
            return xml(response)
        source = f"call:{call_sid or attempt.provider_sid}:{current.refund_id}"
        await record_response(
            session,
            refund=current,
            channel="call",
            action=action,
            raw=digits,
            source_event_id=source,
        )
        await session.commit()
        following = await _next_open(session, merchant.merchant_id, current.refund_id)
        following_facts = await _facts(session, following, merchant) if following else None
    await tell_workflow(
        services,
        current.refund_id,
        "merchant_answered",
        MerchantAnswer(action, "call", source, utcnow()),
    )
    response.say(confirmation(action, merchant.language), language=language)
    if following_facts is not None:
        intro = next_refund_intro(merchant.language)
        response.append(_gather(services, key, following_facts, language, intro=intro))
    response.hangup()
    return xml(response)
