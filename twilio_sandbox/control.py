"""The sandbox's own API for tests and demos (no Twilio auth: it is a loopback tool)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Path, Response, status
from pydantic import BaseModel, ConfigDict, Field, field_validator

from twilio_sandbox.deps import SandboxDep
from twilio_sandbox.faults import FaultPolicy
from twilio_sandbox.inbound import InboundSmsUnavailable, receive_sms
from twilio_sandbox.resources import call_json, message_json
from twilio_sandbox.scenario import NumberBehaviour, Scenario, is_e164
from twilio_sandbox.tokens import TokenError

__all__ = ["router"]

router = APIRouter(prefix="/sandbox", tags=["sandbox control"])

Phone = Annotated[str, Path(description="E.164, e.g. +8613800000001")]


def _e164(phone: str) -> str:
    if not is_e164(phone):
        raise HTTPException(
            status.HTTP_422_UNPROCESSABLE_CONTENT,
            f"{phone!r} is not an E.164 number: use + and the country code, e.g. +8613800000001",
        )
    return phone


class InboundSms(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    from_: str = Field(alias="from", description="the merchant's number (E.164)")
    to: str = Field(description="our Twilio number it was sent to")
    body: str = Field(max_length=1600)

    @field_validator("from_", "to")
    @classmethod
    def _number(cls, value: str) -> str:
        if not is_e164(value):
            raise ValueError("must be an E.164 number, e.g. +8613800000001")
        return value


class InboundReply(BaseModel):
    message_sid: str
    status_code: int
    body: str
    content_type: str
    replies: list[str]


class NumberSetting(BaseModel):
    phone: str
    behaviour: NumberBehaviour


@router.put("/numbers/{phone}")
async def put_number(
    phone: Phone, behaviour: NumberBehaviour, sandbox: SandboxDep
) -> NumberSetting:
    """Set how one number behaves from now on (its sequence of entries starts over)."""
    sandbox.script.set_number(_e164(phone), behaviour)
    sandbox.store.record("number.configured", None, to=phone)
    return NumberSetting(phone=phone, behaviour=behaviour)


@router.get("/numbers/{phone}")
async def get_number(phone: Phone, sandbox: SandboxDep) -> NumberSetting:
    """The number's own behaviour (unset lists fall back to the scenario default)."""
    return NumberSetting(phone=phone, behaviour=sandbox.script.behaviour(_e164(phone)))


@router.get("/scenario")
async def get_scenario(sandbox: SandboxDep) -> Scenario:
    return sandbox.script.scenario


@router.put("/scenario")
async def put_scenario(scenario: Scenario, sandbox: SandboxDep) -> Scenario:
    """Replace the whole scenario; every number's sequence starts over."""
    sandbox.script.replace(scenario)
    sandbox.store.record("scenario.replaced", None)
    return scenario


class FaultState(BaseModel):
    policy: FaultPolicy
    injected: dict[str, int]


@router.get("/faults")
async def get_faults(sandbox: SandboxDep) -> FaultState:
    """The provider faults in force and how many of each were injected so far."""
    return FaultState(policy=sandbox.faults.policy, injected=sandbox.faults.injected)


@router.put("/faults")
async def put_faults(policy: FaultPolicy, sandbox: SandboxDep) -> FaultState:
    """Inject 500s, 429s, slow and lost answers on creates, and lost, duplicated or reordered
    callbacks, from now on ({} turns them all off). A number's own `faults` win for it."""
    sandbox.faults.replace(policy)
    sandbox.store.record("faults.configured", None)
    return FaultState(policy=sandbox.faults.policy, injected=sandbox.faults.injected)


@router.get("/log")
async def event_log(
    sandbox: SandboxDep, sid: str | None = None, kind: str | None = None
) -> list[dict[str, Any]]:
    """Every event in order; filter with ?sid= and/or ?kind=."""
    return [
        event.to_json()
        for event in sandbox.store.events
        if (sid is None or event.sid == sid) and (kind is None or event.kind == kind)
    ]


@router.get("/messages")
async def messages(sandbox: SandboxDep) -> list[dict[str, Any]]:
    return [message_json(message) for message in sandbox.store.messages.values()]


@router.get("/calls")
async def calls(sandbox: SandboxDep) -> list[dict[str, Any]]:
    return [call_json(call) for call in sandbox.store.calls.values()]


class Voicemail(BaseModel):
    recorded_text: str = Field(description="the <Say> texts the voicemail kept whole, in order")
    cut_off: bool = Field(description="a <Say> began during the greeting and ran past it")
    heard: list[dict[str, Any]]


class CallState(BaseModel):
    call: dict[str, Any]
    answer: str = Field(description="the scripted callee: human, machine, fax, busy, …")
    answered_by: str | None
    voicemail: Voicemail | None = Field(description="what a machine recorded (machines only)")


@router.get("/calls/{sid}")
async def call_state(sid: str, sandbox: SandboxDep) -> CallState:
    """One call as the sandbox saw it: the resource, who answered and what a voicemail kept."""
    call = sandbox.store.calls.get(sid)
    if call is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no call {sid}")
    voicemail = None
    if call.answer == "machine":
        kept = [text for text, recorded in call.voicemail if recorded is True]
        voicemail = Voicemail(
            recorded_text=" ".join(kept),
            cut_off=any(recorded == "cut_off" for _, recorded in call.voicemail),
            heard=[{"text": text, "recorded": recorded} for text, recorded in call.voicemail],
        )
    return CallState(
        call=call_json(call), answer=call.answer, answered_by=call.answered_by, voicemail=voicemail
    )


class SecondaryToken(BaseModel):
    model_config = ConfigDict(extra="forbid")

    token: str = Field(min_length=1, description="the new secondary auth token")


class TokenState(BaseModel):
    secondary: bool = Field(description="whether a secondary token exists")


def _rotated(sandbox: SandboxDep, step: str) -> TokenState:
    sandbox.store.record(f"auth_token.{step}", None)
    return TokenState(secondary=sandbox.tokens.secondary is not None)


@router.post("/auth-tokens/secondary", status_code=status.HTTP_201_CREATED)
async def create_secondary_token(body: SecondaryToken, sandbox: SandboxDep) -> TokenState:
    """As POST /v1/AuthTokens/Secondary: REST accepts it too; webhooks stay signed with the
    primary."""
    try:
        sandbox.tokens.create_secondary(body.token)
    except TokenError as err:
        raise HTTPException(status.HTTP_409_CONFLICT, str(err)) from None
    return _rotated(sandbox, "secondary_created")


@router.post("/auth-tokens/promote")
async def promote_secondary_token(sandbox: SandboxDep) -> TokenState:
    """As POST /v1/AuthTokens/Promote: the secondary becomes the primary and signs webhooks;
    the old primary is refused from now on."""
    try:
        sandbox.tokens.promote()
    except TokenError as err:
        raise HTTPException(status.HTTP_409_CONFLICT, str(err)) from None
    return _rotated(sandbox, "promoted")


@router.delete("/auth-tokens/secondary", status_code=status.HTTP_204_NO_CONTENT)
async def delete_secondary_token(sandbox: SandboxDep) -> Response:
    """As DELETE /v1/AuthTokens/Secondary."""
    try:
        sandbox.tokens.delete_secondary()
    except TokenError as err:
        raise HTTPException(status.HTTP_404_NOT_FOUND, str(err)) from None
    _rotated(sandbox, "secondary_deleted")
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post("/inbound-sms")
async def inbound_sms(sms: InboundSms, sandbox: SandboxDep) -> InboundReply:
    """A merchant texts `to`: post the signed webhook and return what it answered."""
    try:
        result = await receive_sms(sandbox, sms.from_, sms.to, sms.body)
    except InboundSmsUnavailable as err:
        configured = sandbox.config.inbound_sms_url is not None
        code = status.HTTP_502_BAD_GATEWAY if configured else status.HTTP_409_CONFLICT
        raise HTTPException(code, str(err)) from None
    return InboundReply(
        message_sid=result.message_sid,
        status_code=result.status_code,
        body=result.body,
        content_type=result.content_type,
        replies=result.replies,
    )


@router.post("/reset", status_code=status.HTTP_204_NO_CONTENT)
async def reset(sandbox: SandboxDep) -> Response:
    """Forget all messages, calls, events and runtime changes (tokens included); cancel what is
    in flight."""
    await sandbox.reset()
    return Response(status_code=status.HTTP_204_NO_CONTENT)
