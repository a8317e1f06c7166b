"""Faults in what Twilio sends back: lost, duplicated and reordered callbacks, lost answers.

None of these is Twilio's default behaviour; each is an explicit fault a test asks for, on one
number (the number's `faults` in the scenario) or for the whole account (SandboxConfig.faults,
PUT /sandbox/faults). Twilio documents no ordering or exactly-once guarantee for its callbacks
(twilio.com/docs/usage/webhooks/webhooks-connection-overrides), so an application must survive
each of these.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

__all__ = ["LOSABLE", "Channel", "DeliveryFaults", "Reorder"]

Channel = Literal["sms", "call"]
_BOTH: tuple[Channel, ...] = ("sms", "call")
Reorder = Literal["none", "after_next", "reverse"]

# What `lose_callbacks` can name: every callback, the final status callback of a message or
# call, the async AMD callback, or a status by its Twilio name.
LOSABLE = frozenset(
    {"all", "final", "amd"}
    | {"initiated", "ringing", "in-progress", "completed", "busy", "no-answer", "failed"}
    | {"canceled", "queued", "sent", "delivered", "undelivered"}
)


class DeliveryFaults(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    lose_callbacks: list[str] = Field(
        default_factory=list,
        description="never deliver these callbacks: 'all', 'final', 'amd' or status names",
    )
    duplicate_callbacks: bool = Field(default=False, description="deliver each callback twice")
    reorder_callbacks: Reorder = Field(
        default="none",
        description="'after_next': hold each callback back until the next one is delivered; "
        "'reverse': hold them all and deliver them after the final one, newest first",
    )
    lose_create_response: bool = Field(
        default=False,
        description="take every create but never deliver its HTTP answer (an ambiguous send)",
    )
    channels: list[Channel] = Field(default_factory=lambda: list(_BOTH), min_length=1)

    @field_validator("lose_callbacks")
    @classmethod
    def _known(cls, value: list[str]) -> list[str]:
        unknown = sorted(set(value) - LOSABLE)
        if unknown:
            raise ValueError(f"cannot lose {unknown}: use 'all', 'final', 'amd' or a status name")
        return value

    def applies_to(self, channel: Channel) -> bool:
        return channel in self.channels

    def loses(self, status: str | None, *, final: bool, amd: bool = False) -> bool:
        chosen = set(self.lose_callbacks)
        if "all" in chosen:
            return True
        if amd:
            return "amd" in chosen
        return (final and "final" in chosen) or (status is not None and status in chosen)
