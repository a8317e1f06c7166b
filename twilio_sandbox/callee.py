"""Who picked up, and what they make of what they hear.

- A human presses its scripted digits at a `<Gather>`, one entry per Gather, but only at a
  Gather reached after it heard something since the previous one (a `<Say>` that was spoken,
  or a `<Play>`): a caller who heard nothing does not know what to press. An unheard Gather
  keeps the entry for the next one.
- A machine (voicemail) never presses anything. It records only speech that starts after its
  greeting has ended (after the beep): a `<Say>` that starts during the greeting is lost, and
  one that starts during it and ends after it is cut off.
- A fax machine hears nothing and presses nothing.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from twilio_sandbox.scenario import CallBehaviour

__all__ = ["Callee", "Recorded"]

Recorded = bool | str  # True, False, or "cut_off"


@dataclass
class Callee:
    kind: str  # "human" | "machine" | "fax"
    greeting_end: float  # simulated seconds after pickup when a voicemail starts recording
    digits: list[str] = field(default_factory=list)
    heard: bool = False  # heard a prompt since the last Gather

    @classmethod
    def answering(cls, behaviour: CallBehaviour) -> Callee:
        digits = list(behaviour.digits) if behaviour.answer == "human" else []
        return cls(behaviour.answer, behaviour.greeting, digits)

    def hear(self) -> None:
        self.heard = True

    def press(self) -> str:
        """What the callee presses at a Gather it has reached ("" for nothing)."""
        heard, self.heard = self.heard, False
        if self.kind != "human" or not heard or not self.digits:
            return ""
        return self.digits.pop(0)

    def records(self, start: float, end: float) -> Recorded:
        """Whether a voicemail keeps speech from `start` to `end` (simulated seconds)."""
        if start >= self.greeting_end:
            return True
        return "cut_off" if end > self.greeting_end else False
