"""One call's life: the CPS queue, dialling, ringing, the scripted answer, AMD, the end.

Statuses and callbacks as Twilio reports them (twilio-oai `call_enum_status`):
`initiated` when dialled (the resource stays `queued` until it rings), `ringing`, `answered`
(`CallStatus=in-progress`), and the final `completed` event (`completed`, `busy`, `no-answer`,
`failed`, `canceled`), each only if `StatusCallbackEvent` asked for it. AnsweredBy is never a
status-callback field: synchronous AMD sends it with the first TwiML request,
asynchronous AMD to AsyncAmdStatusCallback, and the resource keeps it in `answered_by`.
"""

from __future__ import annotations

import asyncio
import math
from urllib.parse import urljoin

from twilio_sandbox.amd import Detection, detect
from twilio_sandbox.call_control import CallControl, HangUp
from twilio_sandbox.callback_stream import CallbackStream
from twilio_sandbox.callee import Callee
from twilio_sandbox.resources import Call, call_price, rfc2822, utcnow
from twilio_sandbox.sandbox import Sandbox
from twilio_sandbox.scenario import CallBehaviour
from twilio_sandbox.voice import Timer, VoiceSession, call_params

__all__ = ["CallRun"]

# The SIP answer Twilio reports with each outcome.
_SIP = {"busy": "486", "no-answer": "487", "canceled": "487", "failed": "500", "completed": "200"}


class CallRun:
    def __init__(self, sandbox: Sandbox, call: Call, behaviour: CallBehaviour) -> None:
        self._sandbox = sandbox
        self._call = call
        self._behaviour = behaviour
        self.control = CallControl()
        self._stream = CallbackStream(sandbox, call.sid, call.to, "call")

    async def run(self) -> None:
        try:
            await self._run()
        finally:
            self._sandbox.controls.pop(self._call.sid, None)

    async def _hung_up(self, seconds: float) -> bool:
        """Wait; True if an update hung the call up meanwhile (it is then finished)."""
        while True:
            waited = await self.control.sleep(seconds)
            if waited is None:
                return False
            instruction = self.control.take()
            if isinstance(instruction, HangUp):
                await self._finish("canceled")
                return True
            seconds -= waited  # new TwiML before pickup is kept on the call itself

    async def _run(self) -> None:
        call, timing = self._call, self._sandbox.config.timing
        wait = call.queue_time_ms / 1000 + timing.dial_seconds
        while wait > 0 or (wait := self._sandbox.call_rate.admit()) > 0:  # the CPS queue
            if await self._hung_up(wait):
                return
            wait = 0.0
        call.start_time = utcnow()
        self._sandbox.store.record("call.initiated", call.sid, queue_time=call.queue_time_ms)
        await self._progress("initiated", "initiated")
        answer = self._behaviour.answer
        if answer == "failed":
            await self._finish("failed")
            return
        call.update("ringing")
        await self._progress("ringing", "ringing")
        ring = self._behaviour.ring_seconds
        ring = timing.ring_seconds if ring is None else ring
        if answer in {"human", "machine", "fax"} and ring > call.timeout:
            answer, ring = "no-answer", float(call.timeout)  # it rang out before pickup
        if await self._hung_up(ring):
            return
        if answer in {"busy", "no-answer"}:
            await self._finish(answer)
            return
        await self._answered()

    async def _answered(self) -> None:
        call, scale = self._call, self._sandbox.config.timing.voice_time_scale
        call.update("in-progress")
        self._sandbox.store.record("call.answered", call.sid, answer=self._behaviour.answer)
        await self._progress("answered", "in-progress")
        start, first_extra, timers = 0.0, {}, []
        if call.amd is not None:
            detection = detect(call.amd, self._behaviour)
            if call.amd.asynchronous:  # the TwiML runs at once; the result follows
                timers.append(Timer(detection.seconds, lambda: self._detected(detection, True)))
            else:  # the TwiML request waits for the result and carries it
                while (waited := await self.control.sleep(detection.seconds * scale)) is not None:
                    if isinstance(self.control.pending, HangUp):
                        self.control.take()
                        elapsed = waited / scale if scale else 0.0
                        await self._finish("completed", duration=max(1, math.ceil(elapsed)))
                        return
                    break  # new TwiML: the session takes it once detection is done
                self._detected(detection, False)
                start, first_extra = detection.seconds, {"AnsweredBy": detection.answered_by}
        session = VoiceSession(
            self._sandbox, call, Callee.answering(self._behaviour), self.control,
            start=start, first_extra=first_extra, timers=timers,
        )  # fmt: skip
        await session.run()
        await self._finish("completed", duration=max(1, math.ceil(session.seconds)))

    def _detected(self, detection: Detection, notify: bool) -> None:
        call, amd = self._call, self._call.amd
        assert amd is not None
        call.answered_by = detection.answered_by
        self._sandbox.store.record(
            "amd.detected", call.sid, answered_by=detection.answered_by,
            duration=detection.duration_ms, mode=amd.mode, async_amd=amd.asynchronous,
        )  # fmt: skip
        if not notify:
            return
        url = urljoin(call.url, amd.callback) if call.url and amd.callback else amd.callback
        if not url or not url.startswith(("http://", "https://")):
            # 21262: "AMD results will still be available in the /Calls resource".
            self._sandbox.store.record("notification", call.sid, code=21262,
                                       error="No AMD status callback URL provided")  # fmt: skip
            return
        params = {
            "AccountSid": call.account_sid,
            "AnsweredBy": detection.answered_by,
            "CallSid": call.sid,
            "MachineDetectionDuration": detection.duration_ms,
        }
        work = self._stream.send_amd(url, params, method=amd.callback_method)
        self._sandbox.tasks.spawn(work, name=f"amd {call.sid}")

    async def _finish(self, status: str, *, duration: int = 0) -> None:
        call = self._call
        call.duration = duration if status == "completed" else None
        call.end_time = utcnow()
        call.update(status)
        self._sandbox.store.record("call.ended", call.sid, status=status, duration=duration)
        if status == "completed":
            self._sandbox.tasks.spawn(self._settle_price(duration), name=f"price {call.sid}")
        extra = {
            "CallDuration": str(duration),
            "Duration": str(math.ceil(duration / 60)),
            "SipResponseCode": _SIP[status],
        }
        await self._progress("completed", status, extra)
        if call.status_callback:
            await self._stream.close(call.status_callback, call.status_callback_method)

    async def _settle_price(self, duration: int) -> None:
        await asyncio.sleep(self._sandbox.config.timing.price_settle_seconds)
        self._call.price = call_price(duration)
        self._sandbox.store.record("call.priced", self._call.sid)

    async def _progress(self, event: str, status: str, extra: dict[str, str] | None = None) -> None:
        """A status callback, if the create request asked for this event."""
        call = self._call
        if not call.status_callback or event not in call.status_callback_events:
            return
        params = call_params(call, status) | (extra or {})
        params |= {
            "CallbackSource": "call-progress-events",
            "SequenceNumber": str(call.callbacks_sent),
            "Timestamp": rfc2822(utcnow()) or "",
        }
        call.callbacks_sent += 1
        await self._stream.send(
            call.status_callback, params, status=status, final=event == "completed",
            method=call.status_callback_method,
        )  # fmt: skip
