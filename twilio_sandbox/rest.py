"""Twilio's REST API 2010-04-01: Messages and Calls, as the official client calls them."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import contextmanager

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from twilio_sandbox.calls import create_call
from twilio_sandbox.deps import AccountSid, SandboxDep
from twilio_sandbox.errors import TwilioApiError
from twilio_sandbox.faults import Channel
from twilio_sandbox.form import Form
from twilio_sandbox.messages import create_message
from twilio_sandbox.resources import call_json, message_json, page_json
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


def _refuse_if_faulty(sandbox: Sandbox, channel: Channel) -> float:
    """An injected refusal raises; a slow fault returns how long to hold the answer back."""
    fault = sandbox.faults.draw(channel)
    if fault is None:
        return 0.0
    refusal = fault.refusal()
    if refusal is not None:
        raise refusal
    return fault.delay_seconds


async def _answer_late(sandbox: Sandbox, sid: str, delay: float) -> None:
    """The provider took the request but answers after the client may have given up."""
    if delay > 0:
        sandbox.store.record("fault.slow_answer", sid, seconds=delay)
        await asyncio.sleep(delay)


def _not_found(request: Request) -> TwilioApiError:
    return TwilioApiError(404, 20404, f"The requested resource {request.url.path} was not found")


def _matches(item: dict[str, object], request: Request, fields: dict[str, str]) -> bool:
    return all(
        item.get(key) == request.query_params[param]
        for param, key in fields.items()
        if param in request.query_params
    )


@router.post("/Messages.json", status_code=201)
async def post_message(
    request: Request, account_sid: AccountSid, sandbox: SandboxDep
) -> JSONResponse:
    form = Form(await request.form())
    with _refusals_recorded(sandbox, "message.rejected", form):
        delay = _refuse_if_faulty(sandbox, "sms")
        message = create_message(sandbox, account_sid, form)
    await _answer_late(sandbox, message.sid, delay)
    return JSONResponse(message_json(message), status_code=201)


@router.get("/Messages.json")
async def list_messages(
    request: Request, _account: AccountSid, sandbox: SandboxDep
) -> JSONResponse:
    items = [message_json(m) for m in reversed(sandbox.store.messages.values())]
    items = [m for m in items if _matches(m, request, {"To": "to", "From": "from"})]
    return JSONResponse(page_json("messages", request.url.path, items))


@router.get("/Messages/{sid}.json")
async def get_message(
    sid: str, request: Request, _account: AccountSid, sandbox: SandboxDep
) -> JSONResponse:
    message = sandbox.store.messages.get(sid)
    if message is None:
        raise _not_found(request)
    return JSONResponse(message_json(message))


@router.post("/Calls.json", status_code=201)
async def post_call(request: Request, account_sid: AccountSid, sandbox: SandboxDep) -> JSONResponse:
    form = Form(await request.form())
    with _refusals_recorded(sandbox, "call.rejected", form):
        sandbox.call_rate.check()  # the account's CPS comes before anything else
        delay = _refuse_if_faulty(sandbox, "call")
        call = create_call(sandbox, account_sid, form)
        sandbox.call_rate.accepted()
    await _answer_late(sandbox, call.sid, delay)
    return JSONResponse(call_json(call), status_code=201)


@router.get("/Calls.json")
async def list_calls(request: Request, _account: AccountSid, sandbox: SandboxDep) -> JSONResponse:
    items = [call_json(c) for c in reversed(sandbox.store.calls.values())]
    fields = {"To": "to", "From": "from", "Status": "status"}
    items = [c for c in items if _matches(c, request, fields)]
    return JSONResponse(page_json("calls", request.url.path, items))


@router.get("/Calls/{sid}.json")
async def get_call(
    sid: str, request: Request, _account: AccountSid, sandbox: SandboxDep
) -> JSONResponse:
    call = sandbox.store.calls.get(sid)
    if call is None:
        raise _not_found(request)
    return JSONResponse(call_json(call))
