"""The sandbox HTTP app: Twilio's Messages and Calls REST contract plus a small control API."""

from __future__ import annotations

import base64
import binascii
import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated, Any

from fastapi import Body, FastAPI, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from twilio_sandbox.callbacks import Deliverer
from twilio_sandbox.config import SandboxConfig
from twilio_sandbox.resources import (
    API_VERSION,
    TwilioApiError,
    call_resource,
    error_response,
    message_resource,
)
from twilio_sandbox.scenario import CallBehaviour, NumberBehaviour, SmsBehaviour
from twilio_sandbox.simulation import Simulator
from twilio_sandbox.store import Store, new_sid

__all__ = ["create_app"]

STOP_WORDS = {"STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT"}
START_WORDS = {"START", "YES", "UNSTOP"}


class InboundSms(BaseModel):
    from_: str = Field(alias="from")
    to: str
    body: str


def _pick(items: list[Any], index: int, fallback: Any) -> Any:
    if not items:
        return fallback
    return items[min(index, len(items) - 1)]


def create_app(config: SandboxConfig) -> FastAPI:
    store = Store()
    deliverer = Deliverer(config.auth_token, config.timing, store)
    simulator = Simulator(config, store, deliverer)
    numbers: dict[str, NumberBehaviour] = dict(config.scenario.numbers)
    opted_out: set[str] = set()

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        yield
        await simulator.stop()
        await deliverer.close()

    app = FastAPI(title="twilio_sandbox", description="A local Twilio stand-in", lifespan=lifespan)
    app.add_exception_handler(TwilioApiError, lambda _r, e: error_response(e))
    prefix = f"/{API_VERSION}/Accounts/{{account_sid}}"

    def behaviour(phone: str) -> NumberBehaviour:
        return numbers.get(phone, config.scenario.default)

    def authenticate(request: Request, account_sid: str) -> None:
        scheme, _, encoded = request.headers.get("authorization", "").partition(" ")
        try:
            user, _, password = base64.b64decode(encoded).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            user, password = "", ""
        good = (
            scheme.lower() == "basic"
            and secrets.compare_digest(user, config.account_sid)
            and secrets.compare_digest(password, config.auth_token)
        )
        if not good:
            raise TwilioApiError(401, 20003, "Authenticate")
        if account_sid != config.account_sid:
            raise TwilioApiError(
                404, 20404, f"The requested resource {request.url.path} was not found"
            )

    def refuse_if_scripted(phone: str, channel: str) -> None:
        error = behaviour(phone).create_error
        if error is not None and error.channel in (channel, "any"):
            store.record("create_refused", channel=channel, to=phone, code=error.code)
            raise TwilioApiError(error.status, error.code, error.message)

    @app.post(prefix + "/Messages.json", status_code=201)
    async def create_message(account_sid: str, request: Request) -> JSONResponse:
        authenticate(request, account_sid)
        form = await request.form()
        to, body = str(form.get("To", "")), str(form.get("Body", ""))
        if not to:
            raise TwilioApiError(400, 21604, "A 'To' phone number is required.")
        if not body:
            raise TwilioApiError(400, 21602, "Message body is required.")
        if not to.startswith("+") or not to[1:].isdigit():
            raise TwilioApiError(400, 21211, f"The 'To' number {to} is not a valid phone number.")
        if to in opted_out:
            store.record("create_refused", channel="sms", to=to, code=21610)
            raise TwilioApiError(400, 21610, "Attempt to send to unsubscribed recipient")
        refuse_if_scripted(to, "sms")
        sid = new_sid("SM")
        resource = message_resource(config.account_sid, sid, to, str(form.get("From", "")), body)
        store.messages[sid] = resource
        callback = str(form["StatusCallback"]) if form.get("StatusCallback") else None
        store.record("message_created", sid=sid, to=to, status_callback=callback, body=body)
        index = store.next_index(store.sms_count, to)
        script: SmsBehaviour = _pick(behaviour(to).sms, index, SmsBehaviour())
        simulator.spawn(simulator.run_message(sid, callback, script))
        return JSONResponse(resource, status_code=201)

    @app.post(prefix + "/Calls.json", status_code=201)
    async def create_call(account_sid: str, request: Request) -> JSONResponse:
        authenticate(request, account_sid)
        form = await request.form()
        to, url = str(form.get("To", "")), str(form.get("Url", ""))
        if not to:
            raise TwilioApiError(400, 21201, "No 'To' number is specified")
        if not url and not form.get("Twiml"):
            raise TwilioApiError(400, 21205, "Url parameter is required.")
        if not to.startswith("+") or not to[1:].isdigit():
            raise TwilioApiError(400, 21211, f"The 'To' number {to} is not a valid phone number.")
        refuse_if_scripted(to, "call")
        sid = new_sid("CA")
        resource = call_resource(config.account_sid, sid, to, str(form.get("From", "")))
        store.calls[sid] = resource
        callback = str(form["StatusCallback"]) if form.get("StatusCallback") else None
        details = {
            "url": url,
            "status_callback": callback,
            "events": [str(v) for v in form.getlist("StatusCallbackEvent")],
            "machine_detection": form.get("MachineDetection") in ("Enable", "DetectMessageEnd"),
        }
        store.record("call_created", sid=sid, to=to, status_callback=callback, url=url)
        index = store.next_index(store.call_count, to)
        script: CallBehaviour = _pick(behaviour(to).calls, index, CallBehaviour())
        simulator.spawn(simulator.run_call(sid, details, script))
        return JSONResponse(resource, status_code=201)

    @app.get(prefix + "/Messages/{sid}.json")
    async def fetch_message(account_sid: str, sid: str, request: Request) -> dict[str, Any]:
        authenticate(request, account_sid)
        if sid not in store.messages:
            raise TwilioApiError(
                404, 20404, f"The requested resource {request.url.path} was not found"
            )
        return store.messages[sid]

    @app.get(prefix + "/Calls/{sid}.json")
    async def fetch_call(account_sid: str, sid: str, request: Request) -> dict[str, Any]:
        authenticate(request, account_sid)
        if sid not in store.calls:
            raise TwilioApiError(
                404, 20404, f"The requested resource {request.url.path} was not found"
            )
        return store.calls[sid]

    # ------------------------------------------------------------------ control API
    @app.put("/sandbox/numbers/{phone}")
    async def set_number(phone: str, body: NumberBehaviour) -> dict[str, str]:
        numbers[phone] = body
        store.sms_count.pop(phone, None)
        store.call_count.pop(phone, None)
        return {"phone": phone, "status": "set"}

    @app.get("/sandbox/log")
    async def get_log() -> list[dict[str, Any]]:
        return store.log

    @app.get("/sandbox/messages")
    async def list_messages() -> list[dict[str, Any]]:
        return list(store.messages.values())

    @app.get("/sandbox/calls")
    async def list_calls() -> list[dict[str, Any]]:
        return list(store.calls.values())

    @app.post("/sandbox/inbound-sms")
    async def inbound_sms(message: Annotated[InboundSms, Body()]) -> dict[str, Any]:
        """A merchant texts us: post it, signed, to our inbound SMS webhook."""
        if not config.inbound_sms_url:
            raise TwilioApiError(409, 0, "no inbound_sms_url configured")
        word = message.body.strip().upper()
        if word in STOP_WORDS:
            opted_out.add(message.from_)  # Twilio blocks later sends with 21610
        elif word in START_WORDS:
            opted_out.discard(message.from_)
        sid = new_sid("SM")
        params = {
            "MessageSid": sid, "SmsSid": sid, "SmsMessageSid": sid,
            "AccountSid": config.account_sid, "From": message.from_, "To": message.to,
            "Body": message.body, "NumMedia": "0", "NumSegments": "1",
            "SmsStatus": "received", "ApiVersion": API_VERSION,
        }  # fmt: skip
        store.record("inbound_sms", sid=sid, from_=message.from_, body=message.body)
        response = await deliverer.post(config.inbound_sms_url, params, kind="inbound_sms")
        if response is None:
            return {"sid": sid, "http_status": None, "reply": None}
        return {"sid": sid, "http_status": response.status_code, "reply": response.text}

    @app.post("/sandbox/reset")
    async def reset() -> dict[str, str]:
        store.reset()
        numbers.clear()
        numbers.update(config.scenario.numbers)
        opted_out.clear()
        return {"status": "reset"}

    return app
