"""Outbound SMS: the create request, then "sent" and the scripted final status, with callbacks.

The first status is `queued`, or `accepted` with a Messaging Service, and "A status callback
request is not sent for the initial status of a newly created Message resource"
(https://twilio.com/docs/messaging/guides/outbound-message-status-in-status-callbacks). The
price is "populated after the message has been sent/received, and may not be immediately
available" (Message schema): it settles `timing.price_settle_seconds` after `sent`, per
segment. Delivered and undelivered callbacks carry `RawDlrDoneDate` (YYMMDDhhmm, Twilio
changelog "Addition of RawDlrDoneDate to delivered and undelivered status webhooks").
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from twilio_sandbox.callback_stream import CallbackStream
from twilio_sandbox.errors import CARRIER_ERRORS, TwilioApiError, check_callback_url
from twilio_sandbox.form import Form
from twilio_sandbox.resources import API_VERSION, Message, new_sid, sms_price, sms_segments, utcnow
from twilio_sandbox.sandbox import Sandbox
from twilio_sandbox.scenario import SmsBehaviour, is_e164

__all__ = ["CreatedMessage", "create_message"]

_MAX_BODY = 1600
_FINAL = {"delivered", "undelivered", "failed"}


@dataclass(frozen=True)
class CreatedMessage:
    message: Message
    lose_response: bool  # scripted: the answer to this create never reaches the client


def _validated(account_sid: str, form: Form) -> Message:
    to, from_, body = form.first("To"), form.first("From"), form.first("Body")
    service = form.first("MessagingServiceSid")
    if not to:
        raise TwilioApiError(400, 21604, "A 'To' phone number is required.")
    if not from_ and not service:
        raise TwilioApiError(400, 21603, "A 'From' phone number is required.")
    if not body and not form.first("MediaUrl") and not form.first("ContentSid"):
        raise TwilioApiError(400, 21602, "Message body is required.")
    if not is_e164(to):
        raise TwilioApiError(400, 21211, f"The 'To' number {to} is not a valid phone number.")
    body = body or ""
    if len(body) > _MAX_BODY:
        raise TwilioApiError(
            400, 21617, "The concatenated message body exceeds the 1600 character limit."
        )
    return Message(
        sid=new_sid("SM"),
        account_sid=account_sid,
        to=to,
        from_=from_,
        body=body,
        status_callback=check_callback_url(form.first("StatusCallback")),
        messaging_service_sid=service,
        num_segments=sms_segments(body),
        status="accepted" if service else "queued",
    )


def _scripted(sandbox: Sandbox, message: Message) -> SmsBehaviour:
    error = sandbox.script.number_error(message.to, "sms")
    if error is None and (message.to, message.from_ or "") in sandbox.store.opted_out:
        raise TwilioApiError(400, 21610)  # the recipient texted STOP to this sender
    if error is None:
        behaviour = sandbox.script.next_sms(message.to)
        if behaviour.create_error is None:
            return behaviour
        error = behaviour.create_error
    raise TwilioApiError(error.status, error.code, error.message)


def create_message(sandbox: Sandbox, account_sid: str, form: Form) -> CreatedMessage:
    """Validate and accept a message (status queued); delivery plays out in the background."""
    message = _validated(account_sid, form)
    behaviour = _scripted(sandbox, message)
    sandbox.store.messages[message.sid] = message
    sandbox.store.record(
        "message.created",
        message.sid,
        to=message.to,
        from_=message.from_,
        body=message.body,
        status_callback=message.status_callback,
        outcome=behaviour.status,
    )
    sandbox.tasks.spawn(_deliver(sandbox, message, behaviour), name=f"sms {message.sid}")
    return CreatedMessage(message, behaviour.lose_create_response)


def _status_params(message: Message) -> dict[str, str]:
    params = {
        "AccountSid": message.account_sid,
        "ApiVersion": API_VERSION,
        "From": message.from_ or "",
        "MessageSid": message.sid,
        "MessageStatus": message.status,
        "SmsSid": message.sid,
        "SmsStatus": message.status,
        "To": message.to,
    }
    if message.messaging_service_sid:
        params["MessagingServiceSid"] = message.messaging_service_sid
    if message.error_code is not None:
        params["ErrorCode"] = str(message.error_code)
    if message.status in {"delivered", "undelivered"}:
        params["RawDlrDoneDate"] = utcnow().strftime("%y%m%d%H%M")
    return params


async def _set_status(
    sandbox: Sandbox, stream: CallbackStream, message: Message, status: str
) -> None:
    message.update(status)
    sandbox.store.record("message.status", message.sid, status=status, code=message.error_code)
    if message.status_callback:
        await stream.send(
            message.status_callback, _status_params(message), status=status, final=status in _FINAL
        )


async def _settle_price(sandbox: Sandbox, message: Message) -> None:
    await asyncio.sleep(sandbox.config.timing.price_settle_seconds)
    message.price = sms_price(message.num_segments)
    sandbox.store.record("message.priced", message.sid)


async def _deliver(sandbox: Sandbox, message: Message, behaviour: SmsBehaviour) -> None:
    timing = sandbox.config.timing
    stream = CallbackStream(sandbox, message.sid, message.to, "sms")
    await asyncio.sleep(timing.sms_sent_seconds)
    if message.status == "accepted":  # a Messaging Service picked a sender: queued now
        await _set_status(sandbox, stream, message, "queued")
    final = behaviour.status
    if final != "failed":  # "failed" means the carrier never took it: there is no "sent"
        message.date_sent = utcnow()
        sandbox.tasks.spawn(_settle_price(sandbox, message), name=f"price {message.sid}")
        await _set_status(sandbox, stream, message, "sent")
        delay = behaviour.delay_seconds
        await asyncio.sleep(timing.sms_delivery_seconds if delay is None else delay)
    message.error_code = behaviour.final_error_code
    if message.error_code is not None:
        message.error_message = CARRIER_ERRORS.get(message.error_code)
    await _set_status(sandbox, stream, message, final)
