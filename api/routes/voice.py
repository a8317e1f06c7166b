"""The voice script: what a merchant hears on our call, and what their keys do.

One call walks through every open refund of the merchant: after an answer for one refund, the
next unanswered one (closest deadline first) is presented in the same call. A key press is
parsed here into an answer and taken by the one entry point (application/answers.py), which
the refund's watch decides on; this module only phrases what was decided.
"""

from __future__ import annotations

from typing import Annotated, Literal
from urllib.parse import quote

from fastapi import APIRouter, Query, Response
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession
from twilio.twiml.voice_response import Gather, VoiceResponse

from api.deps import Svc
from api.outage_twiml import MAX_TRIES
from api.twilio_common import Key, attempt_for_key, xml
from api.twilio_signature import SignedForm
from application.answers import AnswerIn, AnswerStatus, take_answer
from application.calls import take_amd_result
from application.services import Services
from db.models import Merchant, NotificationAttempt, Refund, utcnow
from domain.answers import Refusal
from domain.vocabulary import ANSWER_CODES, Answerer, Channel, Purpose, RefundState
from messages.facts import message_facts
from messages.texts import (
    RefundFacts,
    call_script,
    confirmation,
    next_refund_intro,
    no_further_answer,
    voicemail_text,
)
from messages.voices import Voice, voice_for
from notifier.twilio_words import answerer

router = APIRouter(prefix="/twilio", tags=["twilio webhooks"])

RefundParam = Annotated[str | None, Query(max_length=64, pattern=r"^[^\x00]+$")]
# What the call is for, as the send activity put it in the URL: an evidence reminder offers
# no keys (the dispute is already open), every other call offers 1, 2 (and 3 when abnormal).
PurposeParam = Annotated[Purpose | None, Query()]
# The merchant's language, read only while the database is away (api/outage_twiml.py); and how
# many times this call has met that outage already.
LangParam = Annotated[Literal["en", "zh-CN"] | None, Query()]
OutageParam = Annotated[int, Query(ge=0, le=MAX_TRIES)]


def _query(key: str, refund_id: str, purpose: Purpose | None, language: str) -> str:
    """The signed call URLs carry the attempt's key, the refund being discussed, the purpose
    and the merchant's language."""
    query = f"key={quote(key, safe='')}&refund={quote(refund_id, safe='')}"
    query += f"&purpose={purpose}" if purpose else ""
    return query + f"&lang={quote(language, safe='')}"


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
            Refund.state == RefundState.OPEN,
            col(Refund.merchant_answer).is_(None),
            Refund.refund_id != after,
        )
        .order_by(col(Refund.deadline_at))
        .limit(1)
    )
    return (await session.exec(statement)).first()


def _gather(
    services: Services,
    key: str,
    facts: RefundFacts,
    voice: Voice,
    purpose: Purpose | None,
    intro: str | None = None,
) -> Gather:
    message, prompt = call_script(facts)
    gather = Gather(
        input="dtmf",
        num_digits=1,
        timeout=6,
        action=f"{services.settings.public_base_url}/twilio/voice/gather?"
        + _query(key, facts.refund_id, purpose, facts.language),
        method="POST",
    )
    if intro:
        gather.say(intro, **voice.attributes())
    gather.say(message, **voice.attributes())
    gather.say(prompt, **voice.attributes())
    return gather


@router.post("/voice")
async def voice(
    key: Key,
    form: SignedForm,
    services: Svc,
    refund: RefundParam = None,
    repeat: Annotated[int, Query(ge=0, le=3)] = 0,
    purpose: PurposeParam = None,
    lang: LangParam = None,
    outage: OutageParam = 0,
) -> Response:
    """Say what is at stake, then ask for one key; no key → say it once more, then hang up."""
    response = VoiceResponse()
    async with services.sessions() as session:
        context = await _context(session, key, refund)
        if context is None:
            response.hangup()
            return xml(response)
        attempt, current, merchant = context
        facts = await message_facts(
            session, current, merchant, evidence=purpose == Purpose.EVIDENCE
        )
        answered_by = form.get("AnsweredBy", "")
        if answered_by and attempt.answered_by is None:
            attempt.answered_by = answered_by
            session.add(attempt)
            await session.commit()
    voice = voice_for(merchant.language, services.settings)
    if answerer(answered_by) == Answerer.MACHINE:
        # Detection on the TwiML request (no AsyncAmd): a voicemail is not an answer. After
        # the greeting, leave the facts; before it (machine_start) or for a fax, hang up.
        if answered_by.startswith("machine_end"):
            response.say(voicemail_text(facts), **voice.attributes())
        response.hangup()
        return xml(response)
    response.append(_gather(services, key, facts, voice, purpose))
    if repeat < 1:
        query = _query(key, current.refund_id, purpose, merchant.language)
        response.redirect(
            f"{services.settings.public_base_url}/twilio/voice?{query}&repeat={repeat + 1}",
            method="POST",
        )
    else:
        response.hangup()
    return xml(response)


@router.post("/voice/gather")
async def voice_gather(
    key: Key,
    form: SignedForm,
    services: Svc,
    refund: RefundParam = None,
    purpose: PurposeParam = None,
    lang: LangParam = None,
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
    voice = voice_for(merchant.language, services.settings)
    repeat_url = f"{services.settings.public_base_url}/twilio/voice?" + _query(
        key, current.refund_id, purpose, merchant.language
    )
    # An evidence reminder offers no keys: any key (like *) says it again.
    action = None if purpose == Purpose.EVIDENCE else ANSWER_CODES.get(digits)
    verdict = None
    if action is not None:
        verdict = await take_answer(
            services,
            AnswerIn(
                refund_id=current.refund_id,
                merchant_id=attempt.merchant_id,
                action=action,
                channel=Channel.CALL,
                source_event_id=f"call:{call_sid or attempt.provider_sid}:{current.refund_id}",
                raw=digits,
                at=utcnow(),
            ),
        )
    if action is None or (verdict is not None and verdict.refusal == Refusal.NOT_ABNORMAL):
        # Not an option on this call (3 is offered only where the risk gate found signals).
        if digits != "*":
            response.say(confirmation("unknown", merchant.language), **voice.attributes())
        response.redirect(repeat_url, method="POST")
        return xml(response)
    assert verdict is not None
    if verdict.status == AnswerStatus.REFUSED:
        response.say(no_further_answer(merchant.language), **voice.attributes())
    else:  # taken, or kept for the watch (told later): either way it is recorded
        response.say(confirmation(action, merchant.language), **voice.attributes())
    async with services.sessions() as session:
        following = await _next_open(session, merchant.merchant_id, current.refund_id)
        following_facts = await message_facts(session, following, merchant) if following else None
    if following_facts is not None:
        intro = next_refund_intro(merchant.language)
        response.append(_gather(services, key, following_facts, voice, None, intro=intro))
    response.hangup()
    return xml(response)


@router.post("/voice/amd", status_code=204)
async def voice_amd(key: Key, form: SignedForm, services: Svc) -> Response:
    """The asynchronous answering-machine-detection result (AsyncAmdStatusCallback)."""
    await take_amd_result(
        services,
        key,
        form.get("CallSid", ""),
        form.get("AnsweredBy", ""),
        form.get("MachineDetectionDuration", ""),
    )
    return Response(status_code=204)
