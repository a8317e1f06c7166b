"""Outbound calls: the create request, then ringing, the scripted answer and status callbacks."""

from __future__ import annotations

import asyncio
import math

from twilio_sandbox.errors import TwilioApiError, check_callback_url
from twilio_sandbox.form import Form
from twilio_sandbox.resources import Call, call_price, new_sid, rfc2822, utcnow
from twilio_sandbox.sandbox import Sandbox
from twilio_sandbox.scenario import CallBehaviour, is_e164
from twilio_sandbox.voice import VoiceSession, call_params

__all__ = ["create_call"]

_EVENTS = {"initiated", "ringing", "answered", "completed"}
# The SIP answer Twilio reports with each unanswered outcome.
_SIP = {"busy": "486", "no-answer": "487", "failed": "500", "completed": "200"}
_AMD = {"Enable": "machine_start", "DetectMessageEnd": "machine_end_beep"}


def _timeout(form: Form) -> int:
    raw = form.first("Timeout")
    if raw is None:
        return 60
    if not raw.isdigit() or int(raw) < 1:
        raise TwilioApiError(400, 20001, f"Timeout must be a whole number of seconds: {raw!r}")
    return min(int(raw), 600)  # Twilio caps the ring time at 600 s


def _validated(account_sid: str, form: Form) -> Call:
    to, from_ = form.first("To"), form.first("From")
    url, twiml = form.first("Url"), form.first("Twiml")
    if not to:
        raise TwilioApiError(400, 21201, "No 'To' number is specified")
    if not from_:
        raise TwilioApiError(400, 21213, "No 'From' number is specified")
    if not url and not twiml:
        raise TwilioApiError(400, 21205, "Url parameter is required (or Twiml).")
    if url and not url.startswith(("http://", "https://")):
        raise TwilioApiError(400, 21205, f"Url is not a valid URL: {url!r}")
    if not is_e164(to):
        raise TwilioApiError(400, 21211, f"The 'To' number {to} is not a valid phone number.")
    events = {event.lower() for event in form.all("StatusCallbackEvent")} & _EVENTS
    return Call(
        sid=new_sid("CA"),
        account_sid=account_sid,
        to=to,
        from_=from_,
        url=url or None,
        method=(form.first("Method") or "POST").upper(),
        twiml=None if url else twiml,
        fallback_url=form.first("FallbackUrl"),
        fallback_method=(form.first("FallbackMethod") or "POST").upper(),
        status_callback=check_callback_url(form.first("StatusCallback")),
        status_callback_method=(form.first("StatusCallbackMethod") or "POST").upper(),
        status_callback_events=frozenset(events or {"completed"}),
        machine_detection=form.first("MachineDetection"),
        timeout=_timeout(form),
    )


def _scripted(sandbox: Sandbox, call: Call) -> CallBehaviour:
    error = sandbox.script.number_error(call.to, "call")
    if error is None:
        behaviour = sandbox.script.next_call(call.to)
        if behaviour.create_error is None:
            return behaviour
        error = behaviour.create_error
    raise TwilioApiError(error.status, error.code, error.message)


def create_call(sandbox: Sandbox, account_sid: str, form: Form) -> Call:
    """Validate and accept a call (status queued); it then plays out in the background."""
    call = _validated(account_sid, form)
    behaviour = _scripted(sandbox, call)
    sandbox.store.calls[call.sid] = call
    sandbox.store.record(
        "call.created",
        call.sid,
        to=call.to,
        from_=call.from_,
        url=call.url,
        status_callback=call.status_callback,
        events=sorted(call.status_callback_events),
        machine_detection=call.machine_detection,
        answer=behaviour.answer,
    )
    sandbox.tasks.spawn(_CallRun(sandbox, call, behaviour).run(), name=f"call {call.sid}")
    return call


class _CallRun:
    def __init__(self, sandbox: Sandbox, call: Call, behaviour: CallBehaviour) -> None:
        self._sandbox = sandbox
        self._call = call
        self._behaviour = behaviour

    async def run(self) -> None:
        call, timing = self._call, self._sandbox.config.timing
        await asyncio.sleep(timing.dial_seconds)
        call.start_time = utcnow()
        await self._progress("initiated", "initiated")
        answer = self._behaviour.answer
        if answer == "failed":
            await self._finish("failed")
            return
        call.update("ringing")
        await self._progress("ringing", "ringing")
        ring = self._behaviour.ring_seconds
        ring = timing.ring_seconds if ring is None else ring
        if answer in {"human", "machine"} and ring > call.timeout:
            answer, ring = "no-answer", float(call.timeout)  # it rang out before pickup
        await asyncio.sleep(ring)
        if answer in {"busy", "no-answer"}:
            await self._finish(answer)
            return
        await self._answered(answer == "machine")

    async def _answered(self, machine: bool) -> None:
        call = self._call
        if call.machine_detection in _AMD:
            call.answered_by = _AMD[call.machine_detection] if machine else "human"
        call.update("in-progress")
        self._sandbox.store.record("call.answered", call.sid, answered_by=call.answered_by)
        await self._progress("answered", "in-progress")
        # A machine listens to the script but presses nothing.
        pressed = [] if machine else self._behaviour.digits
        session = VoiceSession(self._sandbox, call, pressed)
        await session.run()
        await self._finish("completed", duration=max(1, math.ceil(session.seconds)))

    async def _finish(self, status: str, *, duration: int = 0) -> None:
        call = self._call
        call.duration = duration
        call.price = call_price(duration) if status == "completed" else None
        call.end_time = utcnow()
        call.update(status)
        self._sandbox.store.record("call.ended", call.sid, status=status, duration=duration)
        extra = {
            "CallDuration": str(duration),
            "Duration": str(math.ceil(duration / 60)),
            "SipResponseCode": _SIP[status],
        }
        await self._progress("completed", status, extra)

    async def _progress(self, event: str, status: str, extra: dict[str, str] | None = None) -> None:
        """A status callback, if the create request asked for this event."""
        call = self._call
        if not call.status_callback or event not in call.status_callback_events:
            return
        params = call_params(call, status) | (extra or {})
        params |= {
            "CallbackSource": "call-progress-events",
            "SequenceNumber": str(call.callbacks_sent),
            "Timestamp": rfc2822(utcnow()) or "",
        }
        call.callbacks_sent += 1
        await self._sandbox.webhooks.status_callback(
            call.status_callback, params, sid=call.sid, method=call.status_callback_method
        )
