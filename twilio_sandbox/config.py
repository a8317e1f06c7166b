"""How one sandbox instance behaves: credentials, scripted merchants, timing, callback retries."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator

from twilio_sandbox.faults import FaultPolicy
from twilio_sandbox.scenario import Scenario

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


class CallbackPolicy(BaseModel):
    """Status-callback delivery: retried on connection errors, timeouts and 5xx answers."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    attempts: int = Field(default=4, ge=1, le=20)
    backoff_seconds: float = Field(default=0.2, ge=0)
    backoff_factor: float = Field(default=2.0, ge=1)
    timeout_seconds: float = Field(default=15.0, gt=0, description="per request, as Twilio's")


class SandboxConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    account_sid: str = Field(min_length=3)
    auth_token: SecretStr
    scenario: Scenario = Field(default_factory=Scenario)
    timing: Timing = Field(default_factory=Timing)
    callbacks: CallbackPolicy = Field(default_factory=CallbackPolicy)
    faults: FaultPolicy = Field(default_factory=FaultPolicy)
    inbound_sms_url: str | None = None
    # A TwiML loop (Redirect to itself, a Gather that keeps failing) ends the call after this
    # many documents rather than running forever.
    max_twiml_documents: int = Field(default=20, ge=1)
    # The account's calls per second: Calls.json creates beyond it in any sliding second are
    # refused with 429 / 20429. 0 = unlimited, the default, so tests that place calls back to
    # back are not throttled; Twilio's default account has 1 (the demo and benchmarks set it).
    calls_per_second: int = Field(default=0, ge=0)

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
