"""One running sandbox: its configuration, memory, script, tokens, live calls and HTTP client."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx

from twilio_sandbox.call_control import CallControl
from twilio_sandbox.callbacks import Webhooks
from twilio_sandbox.config import SandboxConfig
from twilio_sandbox.delivery_faults import Channel, DeliveryFaults
from twilio_sandbox.faults import Faults
from twilio_sandbox.script import Script
from twilio_sandbox.store import Store
from twilio_sandbox.tasks import TaskSet
from twilio_sandbox.throttle import CallPacer
from twilio_sandbox.tokens import AuthTokens

__all__ = ["Sandbox"]


class Sandbox:
    def __init__(self, config: SandboxConfig) -> None:
        self.config = config
        self.store = Store()
        self.script = Script(config.scenario)
        self.tasks = TaskSet()
        self.call_rate = CallPacer(config.calls_per_second, config.cps_overflow)
        self.faults = Faults(config.faults)
        self.tokens = AuthTokens(config.auth_token.get_secret_value())
        self.controls: dict[str, CallControl] = {}  # calls still queued, ringing or in progress
        self._webhooks: Webhooks | None = None

    @property
    def webhooks(self) -> Webhooks:
        if self._webhooks is None:
            raise RuntimeError("the sandbox is not running: serve its app with lifespan on")
        return self._webhooks

    def delivery_faults(self, phone: str, channel: Channel) -> DeliveryFaults | None:
        """The callback faults for a message or call to `phone`: its own, else the account's."""
        own = self.script.behaviour(phone).faults
        faults: DeliveryFaults = own if own is not None else self.faults.policy
        return faults if faults.applies_to(channel) else None

    @asynccontextmanager
    async def running(self) -> AsyncIterator[None]:
        """For the app's lifespan: an HTTP client for webhooks; pending work cancelled at exit."""
        async with httpx.AsyncClient(follow_redirects=False) as http:
            kinder = self.config.kinder_callback_retries
            self._webhooks = Webhooks(http, self.tokens, self.store, kinder)
            try:
                yield
            finally:
                await self.tasks.close()
                self._webhooks = None

    async def reset(self) -> None:
        """Forget every resource and event and go back to the starting scenario and tokens."""
        await self.tasks.cancel_all()
        self.controls.clear()
        self.store.clear()
        self.script.reset()
        self.call_rate.clear()
        self.faults.reset()
        self.tokens.reset()
