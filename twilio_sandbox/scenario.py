"""The scripted world: how each phone number behaves when messaged or called.

A scenario maps E.164 numbers to behaviour; numbers it does not list behave as ``default``.
Successive messages (or calls) to one number take successive entries; the last one repeats.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from twilio_sandbox.delivery_faults import DeliveryFaults

__all__ = [
    "MACHINE_GREETING_SECONDS",
    "Answer",
    "CallBehaviour",
    "CreateError",
    "NumberBehaviour",
    "Scenario",
    "ScenarioError",
    "SmsBehaviour",
    "channel_of",
    "is_e164",
    "load_scenario",
]

Answer = Literal["human", "machine", "fax", "busy", "no-answer", "failed"]
SmsOutcome = Literal["delivered", "undelivered", "failed"]

_E164 = re.compile(r"^\+[1-9]\d{1,14}$")
_DIGITS = re.compile(r"^[0-9*#]*$")
_DEFAULT_SMS_ERROR = {"undelivered": 30003, "failed": 30008}
# Which REST create each documented error refuses (twilio.com/docs/api/errors/<code>): Twilio
# never answers a call with an SMS-only code, nor a message with a call-only one.
_SMS_ONLY = frozenset({21408, 21610, 21611, 21612, 21614, 21635})
_CALL_ONLY = frozenset({21214, 21215, 21216, 21217})
# A voicemail greeting of realistic length, in simulated seconds (Twilio documents none).
MACHINE_GREETING_SECONDS = 12.0
HUMAN_GREETING_SECONDS = 1.0


def channel_of(code: int) -> Literal["sms", "call", "any"]:
    """The create request a documented error code belongs to ("any" when both or unknown)."""
    if code in _SMS_ONLY:
        return "sms"
    if code in _CALL_ONLY:
        return "call"
    return "any"


def is_e164(phone: str) -> bool:
    return bool(_E164.match(phone))


class ScenarioError(ValueError):
    """A scenario that cannot be used; the message names the file, the field and the reason."""


class _Strict(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class CreateError(_Strict):
    """The REST API refuses the create request itself (e.g. 21211 invalid number)."""

    code: int = Field(ge=10000, le=99999)
    status: int = Field(default=400, ge=400, le=599)
    message: str | None = None
    # On a number (not inside an sms/calls entry): which requests it refuses. Unset, the
    # code's own channel (21610 refuses SMS only, 21214 calls only, 21211 both).
    channel: Literal["sms", "call", "any"] = "any"

    @model_validator(mode="before")
    @classmethod
    def _channel_from_code(cls, data: Any) -> Any:
        if (
            isinstance(data, dict)
            and data.get("channel") is None
            and isinstance(data.get("code"), int)
        ):
            return {**data, "channel": channel_of(data["code"])}
        return data

    @model_validator(mode="after")
    def _channel_fits_code(self) -> CreateError:
        own = channel_of(self.code)
        if own != "any" and self.channel != own:
            raise ValueError(f"{self.code} is an {own} error: Twilio never refuses "
                             f"{'a call' if own == 'sms' else 'a message'} with it")  # fmt: skip
        return self

    def refuses(self, channel: Literal["sms", "call"]) -> bool:
        return self.channel in {channel, "any"}


def _entry_error_fits(error: CreateError | None, channel: Literal["sms", "call"]) -> None:
    if error is not None and not error.refuses(channel):
        raise ValueError(f"create_error {error.code} does not refuse a {channel} create")


class SmsBehaviour(_Strict):
    status: SmsOutcome = "delivered"
    error_code: int | None = None
    delay_seconds: float | None = Field(default=None, ge=0)
    create_error: CreateError | None = None
    # The create is taken (the message goes out) but its HTTP answer never arrives.
    lose_create_response: bool = False

    @model_validator(mode="after")
    def _error_code_fits_status(self) -> SmsBehaviour:
        if self.status == "delivered" and self.error_code is not None:
            raise ValueError("error_code is only for status undelivered or failed")
        _entry_error_fits(self.create_error, "sms")
        return self

    @property
    def final_error_code(self) -> int | None:
        """The carrier error reported with an undelivered/failed message (30003 if unscripted)."""
        if self.status == "delivered":
            return None
        return self.error_code or _DEFAULT_SMS_ERROR[self.status]


class CallBehaviour(_Strict):
    answer: Answer = "no-answer"
    # One entry per <Gather> reached, in order; "" means the callee presses nothing.
    digits: list[str] = Field(default_factory=list)
    ring_seconds: float | None = Field(default=None, ge=0)
    # Simulated seconds the callee speaks on pickup: a voicemail greeting (12 unless given,
    # ended by a beep unless `beep: false`), or a human's "hello?" (1). Drives AMD.
    greeting_seconds: float | None = Field(default=None, ge=0, le=600)
    beep: bool = True
    create_error: CreateError | None = None
    lose_create_response: bool = False

    @field_validator("digits", mode="before")
    @classmethod
    def _digits_as_text(cls, value: Any) -> Any:
        # YAML reads `digits: [1]` as an integer; a keypad press is text.
        if isinstance(value, list):
            return [str(item) if isinstance(item, int) else item for item in value]
        return value

    @field_validator("digits")
    @classmethod
    def _keypad_only(cls, value: list[str]) -> list[str]:
        for digits in value:
            if not _DIGITS.match(digits):
                raise ValueError(f"{digits!r}: only 0-9, * and # can be pressed")
        return value

    @model_validator(mode="after")
    def _digits_need_a_human(self) -> CallBehaviour:
        if self.digits and self.answer != "human":
            raise ValueError(f"digits are pressed by a human; answer is {self.answer!r}")
        if not self.beep and self.answer != "machine":
            raise ValueError(f"only a machine beeps (or not); answer is {self.answer!r}")
        if self.greeting_seconds is not None and self.answer not in {"human", "machine"}:
            raise ValueError(f"greeting_seconds is for a human or a machine, not {self.answer!r}")
        _entry_error_fits(self.create_error, "call")
        return self

    @property
    def greeting(self) -> float:
        """How long the callee speaks on pickup, in simulated seconds."""
        if self.greeting_seconds is not None:
            return self.greeting_seconds
        return MACHINE_GREETING_SECONDS if self.answer == "machine" else HUMAN_GREETING_SECONDS


class NumberBehaviour(_Strict):
    """Unset lists fall back to the scenario's default entries."""

    sms: list[SmsBehaviour] | None = Field(default=None, min_length=1)
    calls: list[CallBehaviour] | None = Field(default=None, min_length=1)
    create_error: CreateError | None = None
    # Callback faults for this number, in place of the account's (FaultPolicy).
    faults: DeliveryFaults | None = None


def _default_behaviour() -> NumberBehaviour:
    return NumberBehaviour(sms=[SmsBehaviour()], calls=[CallBehaviour()])


class Scenario(_Strict):
    default: NumberBehaviour = Field(default_factory=_default_behaviour)
    numbers: dict[str, NumberBehaviour] = Field(default_factory=dict)

    @field_validator("default")
    @classmethod
    def _default_is_complete(cls, value: NumberBehaviour) -> NumberBehaviour:
        fallback = _default_behaviour()
        return value.model_copy(
            update={"sms": value.sms or fallback.sms, "calls": value.calls or fallback.calls}
        )

    @field_validator("numbers")
    @classmethod
    def _numbers_are_e164(cls, value: dict[str, NumberBehaviour]) -> dict[str, NumberBehaviour]:
        for phone in value:
            if not is_e164(phone):
                raise ValueError(f'{phone!r} is not an E.164 number (quote it: "+8613800000001")')
        return value


def describe_errors(error: ValidationError) -> str:
    lines = []
    for item in error.errors():
        where = ".".join(str(part) for part in item["loc"]) or "(top level)"
        lines.append(f"  {where}: {item['msg']}")
    return "\n".join(lines)


def load_scenario(path: str | Path) -> Scenario:
    """Read a scenario YAML file; ScenarioError says what is wrong and where."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as err:
        raise ScenarioError(f"cannot read scenario {path}: {err.strerror or err}") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as err:
        raise ScenarioError(f"scenario {path} is not valid YAML: {err}") from None
    if data is None:
        return Scenario()
    if not isinstance(data, dict):
        raise ScenarioError(f"scenario {path}: the top level must be a mapping (default, numbers)")
    # YAML turns an unquoted +8613800000001 into an integer: say so instead of "not E.164".
    numbers = data.get("numbers")
    if isinstance(numbers, dict):
        for key in numbers:
            if not isinstance(key, str):
                raise ScenarioError(
                    f'scenario {path}: numbers.{key}: quote phone numbers, e.g. "+{key}"'
                )
    try:
        return Scenario.model_validate(data)
    except ValidationError as err:
        raise ScenarioError(f"scenario {path} is invalid:\n{describe_errors(err)}") from None
