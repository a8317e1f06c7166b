"""Which scripted entry the next message or call to a number plays.

Counting is per number and channel, so two contacts that both fall back to the default
each start at its first entry. Replacing a number's behaviour starts its count again.
"""

from __future__ import annotations

from collections import Counter
from typing import Literal

from twilio_sandbox.scenario import (
    CallBehaviour,
    CreateError,
    NumberBehaviour,
    Scenario,
    SmsBehaviour,
)

__all__ = ["Channel", "Script"]

Channel = Literal["sms", "call"]


class Script:
    def __init__(self, scenario: Scenario) -> None:
        self._initial = scenario
        self._scenario = scenario
        self._overrides: dict[str, NumberBehaviour] = {}
        self._used: Counter[tuple[str, Channel]] = Counter()

    @property
    def scenario(self) -> Scenario:
        """The scenario in force, runtime changes included."""
        numbers = {**self._scenario.numbers, **self._overrides}
        return self._scenario.model_copy(update={"numbers": numbers})

    def behaviour(self, phone: str) -> NumberBehaviour:
        if phone in self._overrides:
            return self._overrides[phone]
        return self._scenario.numbers.get(phone, NumberBehaviour())

    def set_number(self, phone: str, behaviour: NumberBehaviour) -> None:
        self._overrides[phone] = behaviour
        for channel in ("sms", "call"):
            self._used.pop((phone, channel), None)

    def replace(self, scenario: Scenario) -> None:
        self._scenario = scenario
        self._overrides.clear()
        self._used.clear()

    def reset(self) -> None:
        """Back to the scenario the sandbox started with."""
        self.replace(self._initial)

    def number_error(self, phone: str, channel: Channel) -> CreateError | None:
        error = self.behaviour(phone).create_error or self._scenario.default.create_error
        return error if error is not None and error.channel in {channel, "any"} else None

    def next_sms(self, phone: str) -> SmsBehaviour:
        entries = self.behaviour(phone).sms or self._scenario.default.sms or [SmsBehaviour()]
        return entries[self._take(phone, "sms", len(entries))]

    def next_call(self, phone: str) -> CallBehaviour:
        entries = self.behaviour(phone).calls or self._scenario.default.calls or [CallBehaviour()]
        return entries[self._take(phone, "call", len(entries))]

    def _take(self, phone: str, channel: Channel, available: int) -> int:
        used = self._used[(phone, channel)]
        self._used[(phone, channel)] = used + 1
        return min(used, available - 1)
