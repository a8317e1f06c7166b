"""One message's or call's callbacks on their way out, through the faults a test asked for.

Without faults each callback is delivered once, in lifecycle order, as Twilio delivers it
(callbacks.py decides retries). The faults (delivery_faults.py) are looked up at each send, so
a change made while a call is ringing applies to its next callback:
- lost: the callback is never sent (event `callback.lost`);
- duplicated: it is sent twice, with the same I-Twilio-Idempotency-Token, as a retry would be;
- reordered, `after_next`: each callback waits until the next one has gone, then follows it;
  `reverse`: all wait for the final one and follow it, newest first. Whatever is still held
  when the final callback goes is delivered then, so nothing is lost by reordering alone.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from twilio_sandbox.delivery_faults import Channel, DeliveryFaults
from twilio_sandbox.sandbox import Sandbox

__all__ = ["CallbackStream"]


@dataclass(frozen=True)
class _Pending:
    params: dict[str, str]
    token: str


class CallbackStream:
    def __init__(self, sandbox: Sandbox, sid: str, phone: str, channel: Channel) -> None:
        self._sandbox = sandbox
        self._sid = sid
        self._phone = phone
        self._channel = channel
        self._held: list[_Pending] = []

    def _faults(self) -> DeliveryFaults | None:
        return self._sandbox.delivery_faults(self._phone, self._channel)

    async def send(
        self, url: str, params: dict[str, str], *, status: str, final: bool, method: str = "POST"
    ) -> None:
        faults = self._faults()
        pending = _Pending(params, f"{self._sid}-{uuid.uuid4().hex[:12]}")
        if faults is not None and faults.loses(status, final=final):
            self._sandbox.store.record("callback.lost", self._sid, url=url, status=status)
            if final:
                await self._flush(
                    url, method, faults, reverse=faults.reorder_callbacks == "reverse"
                )
            return
        reorder = faults.reorder_callbacks if faults is not None else "none"
        if reorder == "none":
            await self._deliver(url, method, pending, faults)
            await self._flush(url, method, faults, reverse=False)
        elif reorder == "after_next":
            if self._held or final:
                await self._deliver(url, method, pending, faults)
                await self._flush(url, method, faults, reverse=False)
            else:
                self._held.append(pending)
        else:  # reverse
            self._held.append(pending)
            if final:
                await self._flush(url, method, faults, reverse=True)

    async def send_amd(self, url: str, params: dict[str, str], *, method: str = "POST") -> None:
        """The async AMD result: lost or duplicated on demand, never reordered."""
        faults = self._faults()
        if faults is not None and faults.loses(None, final=False, amd=True):
            self._sandbox.store.record("callback.lost", self._sid, url=url, status="amd")
            return
        pending = _Pending(params, f"{self._sid}-amd-{uuid.uuid4().hex[:8]}")
        await self._deliver(url, method, pending, faults, kind="amd.callback")

    async def close(self, url: str, method: str = "POST") -> None:
        """Deliver whatever is still held (the final status was not subscribed to)."""
        if self._held:
            faults = self._faults()
            reverse = faults is not None and faults.reorder_callbacks == "reverse"
            await self._flush(url, method, faults, reverse=reverse)

    async def _flush(
        self, url: str, method: str, faults: DeliveryFaults | None, *, reverse: bool
    ) -> None:
        held, self._held = self._held, []
        for pending in reversed(held) if reverse else held:
            await self._deliver(url, method, pending, faults)

    async def _deliver(
        self,
        url: str,
        method: str,
        pending: _Pending,
        faults: DeliveryFaults | None,
        kind: str = "callback",
    ) -> None:
        times = 2 if faults is not None and faults.duplicate_callbacks else 1
        for _ in range(times):
            await self._sandbox.webhooks.callback(
                url, pending.params, sid=self._sid, method=method, kind=kind,
                idempotency=pending.token,
            )  # fmt: skip
