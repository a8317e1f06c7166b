"""A live call's mailbox: what a Call update (POST …/Calls/{Sid}.json) asks of it.

An update "replaces what the live call is executing": new TwiML (`Url`+`Method` or `Twiml`)
stops the current document at once and runs the new one; `Status=completed` hangs up, and
`Status=canceled` ends a call that is still queued or ringing (Call resource, Update;
twilio-oai CallUpdate enum `canceled`, `completed`). Each wait of the call (queue,
ring, AMD, speech, pauses, gather timeouts) listens to the mailbox, so an update takes effect
in the middle of it, as on a phone line.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Literal

__all__ = ["CallControl", "HangUp", "Instruction", "NewTwiml"]


@dataclass(frozen=True)
class NewTwiml:
    url: str | None
    method: str = "POST"
    twiml: str | None = None


@dataclass(frozen=True)
class HangUp:
    status: Literal["completed", "canceled"]


Instruction = NewTwiml | HangUp


class CallControl:
    def __init__(self) -> None:
        self._arrived = asyncio.Event()
        self._pending: Instruction | None = None
        self.answered = False

    def send(self, instruction: Instruction) -> None:
        self._pending = instruction
        self._arrived.set()

    @property
    def pending(self) -> Instruction | None:
        return self._pending

    def take(self) -> Instruction | None:
        instruction, self._pending = self._pending, None
        self._arrived.clear()
        return instruction

    async def sleep(self, seconds: float) -> float | None:
        """Wait `seconds`; None if it ran out, else the seconds waited before an update came."""
        if self._pending is not None:
            return 0.0
        loop = asyncio.get_running_loop()
        started = loop.time()
        try:
            await asyncio.wait_for(self._arrived.wait(), timeout=max(0.0, seconds))
        except TimeoutError:
            return None
        return loop.time() - started
