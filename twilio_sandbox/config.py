"""How one sandbox instance behaves: credentials, scripted merchants, timing, faults.

Every default is Twilio's documented default (docs/twilio-sandbox.md lists each with its
reference); whatever is kinder than Twilio is an explicit option named as such.
"""

from __future__ import annotations

from pydantic import AliasChoices, BaseModel, ConfigDict, Field, SecretStr, field_validator

from twilio_sandbox.callbacks import CallbackPolicy
from twilio_sandbox.faults import FaultPolicy
from twilio_sandbox.scenario import Scenario
from twilio_sandbox.throttle import Overflow

__all__ = ["CallbackPolicy", "SandboxConfig", "Timing"]


class Timing(BaseModel):
    """Wall-clock delays, small by default so tests run in well under a second per call."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    dial_seconds: float = Field(default=0.05, ge=0, description="queued → initiated")
    ring_seconds: float = Field(default=0.3, ge=0, description="ringing → scripted outcome")
    sms_sent_seconds: float = Field(default=0.1, ge=0, description="queued → sent")
    sms_delivery_seconds: float = Field(default=0.2, ge=0, description="sent → final status")
    # A call's <Say>, <Pause> and unanswered <Gather> take simulated seconds (what the call
    # would last on a real phone, reported as CallDuration); the sandbox waits this many real
    # seconds per simulated one.
    voice_time_scale: float = Field(default=0.01, ge=0)
    # A price is "populated after the call is completed. May not be immediately available"
    # (Call.price) and "after the message has been sent/received, and may not be immediately
    # available" (Message.price; twilio-oai api.v2010). Twilio gives no figure; this is it.
    price_settle_seconds: float = Field(default=1.0, ge=0)


class SandboxConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    account_sid: str = Field(min_length=3)
    auth_token: SecretStr
    scenario: Scenario = Field(default_factory=Scenario)
    timing: Timing = Field(default_factory=Timing)
    # Kinder than Twilio: retry status/AMD callbacks with backoff whatever their URL asks.
    # None (the default) is Twilio's one try. `callbacks` is its old name, still accepted.
    kinder_callback_retries: CallbackPolicy | None = Field(
        default=None, validation_alias=AliasChoices("kinder_callback_retries", "callbacks")
    )
    faults: FaultPolicy = Field(default_factory=FaultPolicy)
    inbound_sms_url: str | None = None
    # A TwiML loop (Redirect to itself, a Gather that keeps failing) ends the call after this
    # many documents rather than running forever.
    max_twiml_documents: int = Field(default=20, ge=1)
    # The account's calls per second, Twilio's default 1: creates beyond it are queued and
    # start at that rate (`queue_time`); `cps_overflow: refuse` answers 429 / 20429 instead
    # (stricter than Twilio); 0 = no limit (kinder than any Twilio account). throttle.py.
    calls_per_second: int = Field(default=1, ge=0)
    cps_overflow: Overflow = "queue"

    @field_validator("account_sid")
    @classmethod
    def _account_sid(cls, value: str) -> str:
        if not value.startswith("AC"):
            raise ValueError("an account SID starts with 'AC' (e.g. AC + 32 hex digits)")
        return value

    @field_validator("auth_token")
    @classmethod
    def _auth_token(cls, value: SecretStr) -> SecretStr:
        if not value.get_secret_value():
            raise ValueError("the auth token must not be empty")
        return value

    @field_validator("inbound_sms_url")
    @classmethod
    def _inbound_url(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("http://", "https://")):
            raise ValueError("inbound_sms_url must be an http(s) URL")
        return value
