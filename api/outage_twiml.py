"""What Twilio is answered while the database is away, instead of an error it would end on.

A call whose TwiML fetch fails ends in silence (Twilio plays its "application error" and hangs
up), and an inbound SMS's webhook is not retried. So the voice routes answer TwiML: a short
apology in the call's language (the ``lang`` our call URLs carry), a ``<Pause>`` of
``RETRY_AFTER_S`` seconds, then a ``<Redirect>`` to the call's own script, which asks again
(twilio.com/docs/voice/twiml/redirect: control passes to the TwiML at that URL, POST by
default; twilio.com/docs/voice/twiml/pause: ``length`` seconds of silence). After
``MAX_TRIES`` the call says we will be in touch and hangs up; the watch goes on as after any
call without an answer. An inbound SMS is answered with a reply asking to send it again.
"""

from __future__ import annotations

from urllib.parse import parse_qsl, urlencode

from fastapi import Request, Response
from twilio.twiml.messaging_response import MessagingResponse
from twilio.twiml.voice_response import VoiceResponse

from db.outage import RETRY_AFTER_S
from messages.texts import outage_apology, sms_outage_reply
from messages.voices import voice_for

__all__ = ["MAX_TRIES", "outage_twiml"]

MAX_TRIES = 3
_VOICE_SCRIPT = {"/twilio/voice", "/twilio/voice/gather"}


def _xml(body: VoiceResponse | MessagingResponse) -> Response:
    return Response(content=str(body), media_type="application/xml")


def outage_twiml(request: Request) -> Response | None:
    """TwiML for a Twilio webhook that met the outage; None for every other route."""
    path = request.url.path
    if path == "/twilio/sms":
        reply = MessagingResponse()
        reply.message(sms_outage_reply())
        return _xml(reply)
    if path not in _VOICE_SCRIPT:
        return None
    settings = request.app.state.services.settings
    query = dict(parse_qsl(request.url.query))
    language = query.get("lang", "en")
    voice = voice_for(language, settings)
    tries = int(query["outage"]) if query.get("outage", "").isdigit() else 0
    response = VoiceResponse()
    if tries + 1 >= MAX_TRIES:
        response.say(outage_apology(language, again=False), **voice.attributes())
        response.hangup()
        return _xml(response)
    response.say(outage_apology(language, again=True), **voice.attributes())
    response.pause(length=RETRY_AFTER_S)
    kept = {k: v for k, v in query.items() if k in ("key", "refund", "purpose", "lang")}
    again = urlencode({**kept, "outage": str(tries + 1)})
    response.redirect(f"{settings.public_base_url}/twilio/voice?{again}", method="POST")
    return _xml(response)
