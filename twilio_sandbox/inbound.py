"""A merchant texts in: the signed webhook Twilio posts for an inbound SMS, and its reply."""

from __future__ import annotations

from dataclasses import dataclass

from twilio_sandbox.resources import API_VERSION, Message, new_sid, sms_segments
from twilio_sandbox.sandbox import Sandbox
from twilio_sandbox.twiml import TwimlError, parse_messaging

__all__ = ["InboundResult", "InboundSmsUnavailable", "receive_sms"]

# Twilio's default opt-out keywords: "By default, Twilio handles standard English-language
# reply messages—STOP, UNSUBSCRIBE, END, QUIT, STOPALL, REVOKE, OPTOUT, and CANCEL"
# (https://www.twilio.com/docs/messaging/tutorials/advanced-opt-out); after one, Twilio
# refuses to message that pair (21610) until START, YES or UNSTOP (errors/21610). "Only
# single-word messages will trigger the block" (Twilio FAQ): the whole trimmed body must be
# the keyword. Words in other languages (退订, TD) are not Twilio keywords and block nothing.
_STOP = {"STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT", "REVOKE", "OPTOUT"}
_START = {"START", "UNSTOP", "YES"}


class InboundSmsUnavailable(RuntimeError):
    """No webhook configured, or the webhook could not be reached."""


@dataclass(frozen=True)
class InboundResult:
    message_sid: str
    status_code: int
    body: str
    content_type: str
    replies: list[str]


def _webhook_params(message: Message) -> dict[str, str]:
    return {
        "AccountSid": message.account_sid,
        "ApiVersion": API_VERSION,
        "Body": message.body,
        "From": message.from_ or "",
        "MessageSid": message.sid,
        "NumMedia": "0",
        "NumSegments": str(message.num_segments),
        "SmsMessageSid": message.sid,
        "SmsSid": message.sid,
        "SmsStatus": "received",
        "To": message.to,
    }


def _track_opt_out(sandbox: Sandbox, message: Message) -> None:
    keyword = message.body.strip().upper()
    # An outbound message goes from our number (inbound `To`) to the merchant (inbound `From`).
    pair = (message.from_ or "", message.to)
    if keyword in _STOP:
        sandbox.store.opted_out.add(pair)
        sandbox.store.record("opt_out", message.sid, from_=message.from_, to=message.to)
    elif keyword in _START and pair in sandbox.store.opted_out:
        sandbox.store.opted_out.discard(pair)
        sandbox.store.record("opt_in", message.sid, from_=message.from_, to=message.to)


def _record_replies(sandbox: Sandbox, inbound: Message, replies: list[str]) -> None:
    for text in replies:
        reply = Message(
            sid=new_sid("SM"),
            account_sid=inbound.account_sid,
            to=inbound.from_ or "",
            from_=inbound.to,
            body=text,
            direction="outbound-reply",
            status="delivered",
            num_segments=sms_segments(text),
        )
        sandbox.store.messages[reply.sid] = reply
        sandbox.store.record("message.reply", reply.sid, to=reply.to, from_=reply.from_, body=text)


async def receive_sms(sandbox: Sandbox, from_: str, to: str, body: str) -> InboundResult:
    url = sandbox.config.inbound_sms_url
    if url is None:
        raise InboundSmsUnavailable(
            "no inbound SMS webhook: start the sandbox with --inbound-sms-url "
            "(SandboxConfig.inbound_sms_url)"
        )
    message = Message(
        sid=new_sid("SM"),
        account_sid=sandbox.config.account_sid,
        to=to,
        from_=from_,
        body=body,
        direction="inbound",
        status="received",
        num_segments=sms_segments(body),
    )
    sandbox.store.messages[message.sid] = message
    _track_opt_out(sandbox, message)
    result = await sandbox.webhooks.request(url, _webhook_params(message), sid=message.sid)
    sandbox.store.record(
        "inbound_sms",
        message.sid,
        from_=from_,
        to=to,
        body=body,
        url=url,
        http_status=result.status_code,
        error=result.error,
        twiml=result.text,
    )
    if result.status_code is None:
        raise InboundSmsUnavailable(f"the inbound SMS webhook {url} is unreachable: {result.error}")
    try:
        replies = parse_messaging(result.text) if result.ok else []
    except TwimlError as err:
        sandbox.store.record("twiml.error", message.sid, url=url, code=12100, error=str(err))
        replies = []
    _record_replies(sandbox, message, replies)
    return InboundResult(message.sid, result.status_code, result.text, result.content_type, replies)
