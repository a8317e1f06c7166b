"""Outbound calls: the create request and the Call update, as Twilio validates them.

Create (twilio-oai CreateCall): `To`, `From`, `Url` or `Twiml` ("If both `twiml` and `url` are
provided then `twiml` parameter will be ignored"), `Method`, `FallbackUrl`,
`FallbackMethod`, `StatusCallback`, `StatusCallbackEvent` (initiated, ringing, answered,
completed; none = completed only; another value is 21626), `StatusCallbackMethod`, `Timeout`
(60 s default, 600 max, a bad value 21208 "Invalid Timeout"), the AMD parameters (amd.py).
Update: `Url`/`Method`, `Twiml`, `Status` (completed | canceled), `FallbackUrl`,
`StatusCallback`…; a call that is not queued, ringing or in progress is 400 / 21220 "Invalid
call state".
"""

from __future__ import annotations

from dataclasses import dataclass

from twilio_sandbox.amd import parse_amd
from twilio_sandbox.call_control import HangUp, NewTwiml
from twilio_sandbox.call_run import CallRun
from twilio_sandbox.errors import TwilioApiError, check_callback_url
from twilio_sandbox.form import Form
from twilio_sandbox.resources import Call, new_sid
from twilio_sandbox.sandbox import Sandbox
from twilio_sandbox.scenario import CallBehaviour, is_e164

__all__ = ["CreatedCall", "create_call", "update_call"]

_EVENTS = {"initiated", "ringing", "answered", "completed"}
_LIVE = {"queued", "ringing", "in-progress"}


@dataclass(frozen=True)
class CreatedCall:
    call: Call
    lose_response: bool  # scripted: the answer to this create never reaches the client


def _method(form: Form, name: str) -> str:
    method = (form.first(name) or "POST").upper()
    if method not in {"GET", "POST"}:
        raise TwilioApiError(400, 21209, f"Invalid {name}: {method!r}")
    return method


def _timeout(form: Form) -> int:
    raw = form.first("Timeout")
    if raw is None:
        return 60
    if not raw.isdigit() or int(raw) < 1:
        raise TwilioApiError(400, 21208, f"Invalid Timeout: {raw!r}")
    return min(int(raw), 600)  # Twilio caps the ring time at 600 s


def _url(raw: str | None) -> str | None:
    if raw is not None and not raw.startswith(("http://", "https://")):
        raise TwilioApiError(400, 21205, f"Url is not a valid URL: {raw!r}")
    return raw


def _events(form: Form) -> frozenset[str]:
    events = {event.lower() for event in form.all("StatusCallbackEvent")}
    if events - _EVENTS:
        raise TwilioApiError(
            400, 21626, "One or more of the StatusCallbackEvents provided were invalid."
        )
    return frozenset(events or {"completed"})


def _validated(account_sid: str, form: Form) -> Call:
    to, from_ = form.first("To"), form.first("From")
    url, twiml = _url(form.first("Url")), form.first("Twiml")
    if not to:
        raise TwilioApiError(400, 21201, "No 'To' number is specified")
    if not from_:
        raise TwilioApiError(400, 21213, "No 'From' number is specified")
    if not url and not twiml:
        raise TwilioApiError(400, 21205, "Url parameter is required (or Twiml).")
    if not is_e164(to):
        raise TwilioApiError(400, 21211, f"The 'To' number {to} is not a valid phone number.")
    return Call(
        sid=new_sid("CA"),
        account_sid=account_sid,
        to=to,
        from_=from_,
        url=url,
        method=_method(form, "Method"),
        twiml=None if url else twiml,
        fallback_url=_url(form.first("FallbackUrl")),
        fallback_method=_method(form, "FallbackMethod"),
        status_callback=check_callback_url(form.first("StatusCallback")),
        status_callback_method=_method(form, "StatusCallbackMethod"),
        status_callback_events=_events(form),
        amd=parse_amd(form),
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


def create_call(sandbox: Sandbox, account_sid: str, form: Form) -> CreatedCall:
    """Validate and accept a call (status queued); it then plays out in the background."""
    call = _validated(account_sid, form)
    behaviour = _scripted(sandbox, call)
    call.answer = behaviour.answer
    call.queue_time_ms = round(sandbox.call_rate.schedule() * 1000)
    sandbox.store.calls[call.sid] = call
    amd = call.amd
    sandbox.store.record(
        "call.created",
        call.sid,
        to=call.to,
        from_=call.from_,
        url=call.url,
        status_callback=call.status_callback,
        events=sorted(call.status_callback_events),
        machine_detection=amd.mode if amd else None,
        async_amd=amd.asynchronous if amd else None,
        answer=behaviour.answer,
        queue_time=call.queue_time_ms,
    )
    run = CallRun(sandbox, call, behaviour)
    sandbox.controls[call.sid] = run.control
    sandbox.tasks.spawn(run.run(), name=f"call {call.sid}")
    return CreatedCall(call, behaviour.lose_create_response)


def update_call(sandbox: Sandbox, call: Call, form: Form) -> Call:
    """Act on a live call: new TwiML, a hang-up, new callbacks. 21220 once it has ended."""
    control = sandbox.controls.get(call.sid)
    if call.status not in _LIVE or control is None:
        raise TwilioApiError(400, 21220, "Invalid call state")
    status = form.first("Status")
    if status is not None and status not in {"completed", "canceled"}:
        raise TwilioApiError(400, 20001, f"Status can be completed or canceled, not {status!r}")
    url, twiml = _url(form.first("Url")), form.first("Twiml")
    if form.first("StatusCallback") is not None:
        call.status_callback = check_callback_url(form.first("StatusCallback"))
        call.status_callback_method = _method(form, "StatusCallbackMethod")
    if form.first("FallbackUrl") is not None:
        call.fallback_url = _url(form.first("FallbackUrl"))
        call.fallback_method = _method(form, "FallbackMethod")
    sandbox.store.record("call.updated", call.sid, status=status, url=url, twiml=twiml)
    if status == "completed" or (status == "canceled" and call.status != "in-progress"):
        # `canceled` "will attempt to hangup calls that are queued or ringing but not affect
        # calls already in progress"; `completed` hangs up either.
        control.send(HangUp("completed" if call.status == "in-progress" else "canceled"))
    elif url or twiml:
        instruction = NewTwiml(url, _method(form, "Method"), None if url else twiml)
        if call.status == "in-progress":
            control.send(instruction)
        else:  # not answered yet: it runs when the callee picks up
            call.url, call.method, call.twiml = url, instruction.method, instruction.twiml
    return call
