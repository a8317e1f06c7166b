"""Outbound SMS: the create request, then "sent" and the scripted final status, with callbacks."""

from __future__ import annotations

import asyncio

from twilio_sandbox.errors import CARRIER_ERRORS, TwilioApiError, check_callback_url
from twilio_sandbox.form import Form
from twilio_sandbox.resources import API_VERSION, Message, new_sid, sms_price, sms_segments, utcnow
from twilio_sandbox.sandbox import Sandbox
from twilio_sandbox.scenario import SmsBehaviour, is_e164

__all__ = ["create_message"]

_MAX_BODY = 1600


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


def create_message(sandbox: Sandbox, account_sid: str, form: Form) -> Message:
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
    return message


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
    return params


async def _set_status(sandbox: Sandbox, message: Message, status: str) -> None:
    message.update(status)
    sandbox.store.record("message.status", message.sid, status=status, code=message.error_code)
    if message.status_callback:
        await sandbox.webhooks.status_callback(
            message.status_callback, _status_params(message), sid=message.sid
        )


async def _deliver(sandbox: Sandbox, message: Message, behaviour: SmsBehaviour) -> None:
    timing = sandbox.config.timing
    await asyncio.sleep(timing.sms_sent_seconds)
    final = behaviour.status
    if final != "failed":  # "failed" means the carrier never took it: there is no "sent"
        message.date_sent = utcnow()
        message.price = sms_price(message.num_segments)
        await _set_status(sandbox, message, "sent")
        delay = behaviour.delay_seconds
        await asyncio.sleep(timing.sms_delivery_seconds if delay is None else delay)
    message.error_code = behaviour.final_error_code
    if message.error_code is not None:
        message.error_message = CARRIER_ERRORS.get(message.error_code)
    await _set_status(sandbox, message, final)
