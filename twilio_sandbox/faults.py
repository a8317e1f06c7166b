"""Provider faults: 500s, 429s, slow and lost answers to creates at set rates; callback faults.

Real Twilio sometimes answers a create with 500 (code 20500) or 429 (20429, too many
requests) without taking the message or call, and sometimes takes it but answers so late that
the client gives up. A fault test sets rates here (SandboxConfig.faults, or PUT
/sandbox/faults at run time) and checks that the application neither loses nor repeats a send.
Draws come from a seeded generator, so a run can be repeated. The policy also carries the
account-wide callback faults (DeliveryFaults: lost, duplicated, reordered callbacks, every
create's answer lost), which a number's own `faults` replace for that number.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Literal

from pydantic import ConfigDict, Field, model_validator

from twilio_sandbox.delivery_faults import Channel, DeliveryFaults
from twilio_sandbox.errors import TwilioApiError

__all__ = ["Channel", "Fault", "FaultPolicy", "Faults"]


class FaultPolicy(DeliveryFaults):
    """Rates are per create request (Messages.json, Calls.json); all zero = no faults."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    server_error_rate: float = Field(
        default=0.0, ge=0, le=1, description="answer 500 (20500); nothing is created"
    )
    rate_limit_rate: float = Field(
        default=0.0, ge=0, le=1, description="answer 429 (20429); nothing is created"
    )
    slow_rate: float = Field(
        default=0.0, ge=0, le=1, description="create, then answer after slow_seconds"
    )
    slow_seconds: float = Field(default=20.0, ge=0, le=600)
    lost_response_rate: float = Field(
        default=0.0, ge=0, le=1, description="create, then never deliver the answer"
    )
    # How long a lost answer holds the connection when the client does not give up first;
    # then the connection is dropped.
    lost_response_hold_seconds: float = Field(default=60.0, gt=0, le=600)
    seed: int | None = None

    @model_validator(mode="after")
    def _rates_add_up(self) -> FaultPolicy:
        total = self.server_error_rate + self.rate_limit_rate + self.slow_rate
        if total + self.lost_response_rate > 1:
            raise ValueError(
                "server_error_rate + rate_limit_rate + slow_rate + lost_response_rate "
                "must be at most 1"
            )
        return self


@dataclass(frozen=True)
class Fault:
    kind: Literal["server_error", "rate_limit", "slow", "lost_response"]
    delay_seconds: float = 0.0

    def refusal(self) -> TwilioApiError | None:
        """The error answer for a refusing fault (None for a slow or lost answer)."""
        if self.kind == "server_error":
            return TwilioApiError(500, 20500, "An internal server error has occurred")
        if self.kind == "rate_limit":
            return TwilioApiError(429, 20429, "Too Many Requests")
        return None


class Faults:
    """The policy in force and its random draws; counts what it injected."""

    def __init__(self, policy: FaultPolicy) -> None:
        self._initial = policy
        self.policy = policy
        self._random = random.Random(policy.seed)
        self.injected: dict[str, int] = {}

    def replace(self, policy: FaultPolicy) -> None:
        self.policy = policy
        self._random = random.Random(policy.seed)
        self.injected = {}

    def reset(self) -> None:
        self.replace(self._initial)

    def draw(self, channel: Channel) -> Fault | None:
        policy = self.policy
        if channel not in policy.channels:
            return None
        roll = self._random.random()
        fault: Fault | None = None
        if roll < policy.server_error_rate:
            fault = Fault("server_error")
        elif roll < policy.server_error_rate + policy.rate_limit_rate:
            fault = Fault("rate_limit")
        elif roll < policy.server_error_rate + policy.rate_limit_rate + policy.slow_rate:
            fault = Fault("slow", policy.slow_seconds)
        elif roll < (
            policy.server_error_rate
            + policy.rate_limit_rate
            + policy.slow_rate
            + policy.lost_response_rate
        ):
            fault = Fault("lost_response", policy.lost_response_hold_seconds)
        if fault is not None:
            self.injected[fault.kind] = self.injected.get(fault.kind, 0) + 1
        return fault
