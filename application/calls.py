"""What a call's answering machine detection found, and what to do about it.

The call asks Twilio for asynchronous detection that waits for the end of a voicemail
greeting (``MachineDetection=DetectMessageEnd``, ``AsyncAmd=true``: twilio.com/docs/voice/
answering-machine-detection): a person hears the prompt at once, and the result comes to
its own callback, never with the status callbacks. A machine whose greeting has ended
(``machine_end_beep`` / ``machine_end_silence`` / ``machine_end_other``) gets the voicemail
message, by updating the live call with new TwiML (UpdateCall); ``machine_start`` (detection
that does not wait for the beep) and a fax are hung up on, since a message left then would
be cut off by the greeting.
"""

from __future__ import annotations

import structlog
from twilio.twiml.voice_response import VoiceResponse

from application.services import Services
from db.attempts import attempt_by_key
from db.audit import append_audit
from db.models import Merchant, Refund
from domain.vocabulary import Answerer
from messages.facts import message_facts
from messages.texts import voicemail_text
from messages.voices import voice_for
from notifier.errors import ProviderError
from notifier.twilio_words import answerer

__all__ = ["take_amd_result"]

log = structlog.get_logger(__name__)

_AFTER_GREETING = ("machine_end_beep", "machine_end_silence", "machine_end_other")


async def take_amd_result(
    services: Services, key: str, call_sid: str, raw_answered_by: str, detection_ms: str
) -> None:
    """Record who answered (once); leave the voicemail on a machine after its greeting."""
    async with services.sessions() as session:
        attempt = await attempt_by_key(session, key, for_update=True)
        if attempt is None:
            log.warning("amd_for_unknown_attempt", idempotency_key=key)
            return
        first = attempt.answered_by is None
        if first:
            attempt.answered_by = raw_answered_by
            session.add(attempt)
        await append_audit(
            session,
            kind="call.answered_by",
            actor="twilio",
            refund_id=attempt.refund_id,
            merchant_id=attempt.merchant_id,
            detail={
                "idempotency_key": key,
                "sid": call_sid,
                "answered_by": raw_answered_by,
                "detection_ms": detection_ms,
            },
            dedup_key=f"{key}:answered_by",
        )
        refund = await session.get(Refund, attempt.refund_id)
        merchant = await session.get(Merchant, attempt.merchant_id)
        await session.commit()
        if not first or answerer(raw_answered_by) != Answerer.MACHINE:
            return
        assert refund is not None
        assert merchant is not None
        twiml = VoiceResponse()
        if raw_answered_by in _AFTER_GREETING:
            facts = await message_facts(session, refund, merchant)
            voice = voice_for(merchant.language, services.settings)
            twiml.say(voicemail_text(facts), **voice.attributes())
        twiml.hangup()
    try:
        await services.notifier.update_call(sid=call_sid, twiml=str(twiml))
    except ProviderError as err:  # e.g. the machine hung up already: the call is over
        log.warning("voicemail_not_left", refund_id=refund.refund_id, code=err.code)
        return
    log.info(
        "voicemail_left" if raw_answered_by in _AFTER_GREETING else "machine_hung_up",
        refund_id=refund.refund_id,
        merchant_id=refund.merchant_id,
        answered_by=raw_answered_by,
    )
