"""Twilio's REST API 2010-04-01: Messages and Calls, as the official client calls them."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import contextmanager

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from starlette.types import Receive, Scope, Send

from twilio_sandbox.calls import create_call, update_call
from twilio_sandbox.deps import AccountSid, SandboxDep
from twilio_sandbox.errors import TwilioApiError
from twilio_sandbox.faults import Channel
from twilio_sandbox.form import Form
from twilio_sandbox.listing import list_calls, list_messages
from twilio_sandbox.messages import create_message
from twilio_sandbox.resources import call_json, message_json
from twilio_sandbox.sandbox import Sandbox

__all__ = ["router"]

router = APIRouter(prefix="/2010-04-01/Accounts/{account_sid}", tags=["Twilio REST API"])


@contextmanager
def _refusals_recorded(sandbox: Sandbox, kind: str, form: Form) -> Iterator[None]:
    """Every refused create goes to the event log, whatever refused it."""
    try:
        yield
    except TwilioApiError as err:
        to, from_ = form.first("To"), form.first("From")
        callback = form.first("StatusCallback")  # carries the sender's key: tells retries apart
        sandbox.store.record(
            kind,
            None,
            to=to,
            from_=from_,
            code=err.code,
            error=err.message,
            status_callback=callback,
        )
        raise


class AnswerDropped(ConnectionError):
    """Raised on purpose once a lost answer's hold ends: the server then drops the connection."""


class _LostAnswer(Response):
    """The create was taken, but its answer never arrives: hold the connection until the
    client gives up, or drop it after `hold` seconds (a fault: lose_create_response)."""

    def __init__(self, hold: float) -> None:
        super().__init__(status_code=201)
        self._hold = hold

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            async with asyncio.timeout(self._hold):
                while (await receive())["type"] != "http.disconnect":
                    pass
            return  # the client gave up: nothing is sent
        except TimeoutError:
            pass
        headers = [(b"content-type", b"application/json"), (b"content-length", b"2")]
        await send({"type": "http.response.start", "status": 201, "headers": headers})
        raise AnswerDropped("sandbox fault lose_create_response: the connection is dropped")


def _fault(sandbox: Sandbox, channel: Channel) -> tuple[float, float | None]:
    """An injected refusal raises; else (seconds to hold the answer, hold of a lost answer)."""
    fault = sandbox.faults.draw(channel)
    if fault is None:
        return 0.0, None
    refusal = fault.refusal()
    if refusal is not None:
        raise refusal
    if fault.kind == "lost_response":
        return 0.0, fault.delay_seconds
    return fault.delay_seconds, None


async def _answer(
    sandbox: Sandbox, channel: Channel, phone: str, sid: str, body: dict[str, object],
    delay: float, lost: float | None, scripted_loss: bool,
) -> Response:  # fmt: skip
    """The create's answer, unless a fault holds it back or loses it."""
    faults = sandbox.delivery_faults(phone, channel)
    if lost is None and (scripted_loss or (faults is not None and faults.lose_create_response)):
        lost = sandbox.faults.policy.lost_response_hold_seconds
    if lost is not None:
        sandbox.store.record("fault.lost_response", sid, hold_seconds=lost)
        return _LostAnswer(lost)
    if delay > 0:  # the provider took the request but answers after the client may give up
        sandbox.store.record("fault.slow_answer", sid, seconds=delay)
        await asyncio.sleep(delay)
    return JSONResponse(body, status_code=201)


def _not_found(request: Request) -> TwilioApiError:
    return TwilioApiError(404, 20404, f"The requested resource {request.url.path} was not found")


@router.post("/Messages.json", status_code=201)
async def post_message(request: Request, account_sid: AccountSid, sandbox: SandboxDep) -> Response:
    form = Form(await request.form())
    with _refusals_recorded(sandbox, "message.rejected", form):
        delay, lost = _fault(sandbox, "sms")
        created = create_message(sandbox, account_sid, form)
    message = created.message
    body = message_json(message)
    return await _answer(
        sandbox, "sms", message.to, message.sid, body, delay, lost, created.lose_response
    )


@router.get("/Messages.json")
async def get_messages(request: Request, _account: AccountSid, sandbox: SandboxDep) -> JSONResponse:
    messages = list(sandbox.store.messages.values())
    page = list_messages(request.url.path, request.query_params, messages, message_json)
    return JSONResponse(page)


@router.get("/Messages/{sid}.json")
async def get_message(
    sid: str, request: Request, _account: AccountSid, sandbox: SandboxDep
) -> JSONResponse:
    message = sandbox.store.messages.get(sid)
    if message is None:
        raise _not_found(request)
    return JSONResponse(message_json(message))


@router.post("/Calls.json", status_code=201)
async def post_call(request: Request, account_sid: AccountSid, sandbox: SandboxDep) -> Response:
    form = Form(await request.form())
    with _refusals_recorded(sandbox, "call.rejected", form):
        sandbox.call_rate.check()  # cps_overflow=refuse: the account's CPS before anything else
        delay, lost = _fault(sandbox, "call")
        created = create_call(sandbox, account_sid, form)
    call = created.call
    body = call_json(call)
    return await _answer(
        sandbox, "call", call.to, call.sid, body, delay, lost, created.lose_response
    )


@router.get("/Calls.json")
async def get_calls(request: Request, _account: AccountSid, sandbox: SandboxDep) -> JSONResponse:
    calls = list(sandbox.store.calls.values())
    return JSONResponse(list_calls(request.url.path, request.query_params, calls, call_json))


@router.get("/Calls/{sid}.json")
async def get_call(
    sid: str, request: Request, _account: AccountSid, sandbox: SandboxDep
) -> JSONResponse:
    call = sandbox.store.calls.get(sid)
    if call is None:
        raise _not_found(request)
    return JSONResponse(call_json(call))


@router.post("/Calls/{sid}.json")
async def post_call_update(
    sid: str, request: Request, _account: AccountSid, sandbox: SandboxDep
) -> JSONResponse:
    """Update a live call: new TwiML (`Url`/`Twiml`), or `Status=completed|canceled`."""
    call = sandbox.store.calls.get(sid)
    if call is None:
        raise _not_found(request)
    return JSONResponse(call_json(update_call(sandbox, call, Form(await request.form()))))
