"""What happens after a message or call is created: statuses over time, signed callbacks."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

from twilio_sandbox.callbacks import Deliverer
from twilio_sandbox.config import SandboxConfig
from twilio_sandbox.resources import API_VERSION
from twilio_sandbox.scenario import CallBehaviour, SmsBehaviour
from twilio_sandbox.store import Store, rfc2822
from twilio_sandbox.voice import follow_call

__all__ = ["Simulator"]

SMS_PRICE = "-0.00790"
CALL_PRICE_PER_MINUTE = "-0.01300"


class Simulator:
    def __init__(self, config: SandboxConfig, store: Store, deliverer: Deliverer) -> None:
        self._config = config
        self._store = store
        self._deliverer = deliverer
        self._tasks: set[asyncio.Task[None]] = set()

    def spawn(self, coroutine: Any) -> None:
        task: asyncio.Task[None] = asyncio.create_task(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def stop(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    # ------------------------------------------------------------------ SMS
    async def run_message(self, sid: str, callback: str | None, behaviour: SmsBehaviour) -> None:
        message = self._store.messages[sid]
        timing = self._config.timing
        await asyncio.sleep(timing.sms_sent_after)
        await self._message_status(message, "sent", callback)
        await asyncio.sleep(timing.sms_final_after)
        if behaviour.status == "delivered":
            message["price"] = SMS_PRICE
        else:
            message["error_code"] = behaviour.error_code or 30003
            message["error_message"] = "Unreachable destination handset"
        await self._message_status(message, behaviour.status, callback)

    async def _message_status(
        self, message: dict[str, Any], status: str, callback: str | None
    ) -> None:
        message["status"] = status
        message["date_updated"] = rfc2822()
        if status == "sent":
            message["date_sent"] = message["date_updated"]
        self._store.record("message_status", sid=message["sid"], status=status)
        if not callback:
            return
        params = {
            "MessageSid": message["sid"], "SmsSid": message["sid"],
            "AccountSid": self._config.account_sid, "From": message["from"], "To": message["to"],
            "MessageStatus": status, "SmsStatus": status, "ApiVersion": API_VERSION,
        }  # fmt: skip
        if message.get("error_code"):
            params["ErrorCode"] = str(message["error_code"])
        await self._deliverer.post(callback, params, kind="sms_status")

    # ------------------------------------------------------------------ calls
    async def run_call(self, sid: str, request: dict[str, Any], behaviour: CallBehaviour) -> None:
        call = self._store.calls[sid]
        timing = self._config.timing
        events: set[str] = set(request.get("events", []))
        callback: str | None = request.get("status_callback")
        base = {
            "CallSid": sid, "AccountSid": self._config.account_sid, "From": call["from"],
            "To": call["to"], "Direction": "outbound-api", "ApiVersion": API_VERSION,
        }  # fmt: skip
        sequence = 0

        async def status(value: str, **extra: str) -> None:
            nonlocal sequence
            call["status"] = value
            call["date_updated"] = rfc2822()
            self._store.record("call_status", sid=sid, status=value)
            event = {"in-progress": "answered", "queued": "initiated"}.get(value, value)
            final = value in {"completed", "busy", "no-answer", "failed", "canceled"}
            if callback and (final or event in events):
                params = {**base, "CallStatus": value, "SequenceNumber": str(sequence),
                          "CallbackSource": "call-progress-events",
                          "Timestamp": rfc2822(), **extra}  # fmt: skip
                sequence += 1
                await self._deliverer.post(callback, params, kind="call_status")

        await status("queued")
        await asyncio.sleep(0.05)
        await status("ringing")
        await asyncio.sleep(behaviour.ring_seconds or timing.ring_seconds)
        if behaviour.answer in ("busy", "no-answer", "failed"):
            call["end_time"] = rfc2822()
            await status(behaviour.answer, CallDuration="0")
            return
        started = datetime.now(UTC)
        call["start_time"] = rfc2822(started)
        amd: dict[str, str] = {}
        if request.get("machine_detection"):
            amd["AnsweredBy"] = "human" if behaviour.answer == "human" else "machine_start"
            call["answered_by"] = amd["AnsweredBy"]
        await status("in-progress", **amd)
        await follow_call(
            sid=sid,
            url=request["url"],
            base_params={**base, "CallStatus": "in-progress", **amd},
            behaviour=behaviour,
            deliverer=self._deliverer,
            store=self._store,
            max_documents=self._config.max_documents_per_call,
            pause_cap=timing.pause_seconds_cap,
        )
        seconds = max(1, round((datetime.now(UTC) - started).total_seconds()))
        call["duration"] = str(seconds)
        call["end_time"] = rfc2822()
        call["price"] = CALL_PRICE_PER_MINUTE
        await status("completed", CallDuration=str(seconds), Duration=str((seconds + 59) // 60),
                     **amd)  # fmt: skip
