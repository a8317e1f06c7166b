"""Sandbox configuration: the account it imitates, its merchants, its timing."""

from __future__ import annotations

from pydantic import BaseModel, Field

from twilio_sandbox.scenario import Scenario

__all__ = ["SandboxConfig", "Timing"]


class Timing(BaseModel):
    """Delays in seconds. Small by default so tests and the demo run fast."""

    sms_sent_after: float = 0.1
    sms_final_after: float = 0.2
    ring_seconds: float = 0.3
    pause_seconds_cap: float = 0.2  # <Pause length="n"> sleeps at most this long
    callback_attempts: int = 6  # deliveries tried when our webhook is down or answers 5xx
    callback_backoff: float = 0.5  # doubled after each failed delivery
    callback_timeout: float = 10.0  # Twilio waits up to 15 s for a webhook


class SandboxConfig(BaseModel):
    account_sid: str = Field(pattern=r"^AC[0-9a-fA-F]{32}$")
    auth_token: str = Field(min_length=1)
    scenario: Scenario = Field(default_factory=Scenario)
    inbound_sms_url: str | None = None
    timing: Timing = Field(default_factory=Timing)
    max_documents_per_call: int = 20
