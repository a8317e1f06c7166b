"""One running sandbox: its configuration, memory, script, background tasks and HTTP client."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx

from twilio_sandbox.callbacks import Webhooks
from twilio_sandbox.config import SandboxConfig
from twilio_sandbox.faults import Faults
from twilio_sandbox.script import Script
from twilio_sandbox.store import Store
from twilio_sandbox.tasks import TaskSet
from twilio_sandbox.throttle import RateWindow

__all__ = ["Sandbox"]


class Sandbox:
    def __init__(self, config: SandboxConfig) -> None:
        self.config = config
        self.store = Store()
        self.script = Script(config.scenario)
        self.tasks = TaskSet()
        self.call_rate = RateWindow(config.calls_per_second)
        self.faults = Faults(config.faults)
        self._webhooks: Webhooks | None = None

    @property
    def auth_token(self) -> str:
        return self.config.auth_token.get_secret_value()

    @property
    def webhooks(self) -> Webhooks:
        if self._webhooks is None:
            raise RuntimeError("the sandbox is not running: serve its app with lifespan on")
        return self._webhooks

    @asynccontextmanager
    async def running(self) -> AsyncIterator[None]:
        """For the app's lifespan: an HTTP client for webhooks; pending work cancelled at exit."""
        async with httpx.AsyncClient(follow_redirects=False) as http:
            self._webhooks = Webhooks(http, self.auth_token, self.config.callbacks, self.store)
            try:
                yield
            finally:
                await self.tasks.close()
                self._webhooks = None

    async def reset(self) -> None:
        """Forget every resource and event and go back to the starting scenario."""
        await self.tasks.cancel_all()
        self.store.clear()
        self.script.reset()
        self.call_rate.clear()
        self.faults.reset()
