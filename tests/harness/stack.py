"""Helpers the end-to-end tests use to act as the platform, support and merchants."""

from __future__ import annotations

import asyncio
import random
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import httpx
from temporalio.client import Client

from application.services import Services
from config.settings import Settings
from demo import payloads
from demo.platform_receiver import PlatformReceiver
from workflows.starter import watch_handle

__all__ = ["LiveStack"]


@dataclass
class LiveStack:
    settings: Settings
    services: Services
    client: Client
    http: httpx.AsyncClient
    sandbox: httpx.AsyncClient
    platform_token: str
    support_token: str
    # The platform's webhook endpoint (REFUNDWATCH_PLATFORM_WEBHOOK_URL), in this process.
    receiver: PlatformReceiver | None = None

    def platform(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.platform_token}"}

    def support(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.support_token}"}

    @staticmethod
    def new_phone() -> str:
        return "+86139" + "".join(random.choices("0123456789", k=8))

    async def behave(self, phone: str, behaviour: dict[str, Any]) -> None:
        response = await self.sandbox.put(f"/sandbox/numbers/{phone}", json=behaviour)
        response.raise_for_status()

    async def merchant(
        self, behaviours: list[dict[str, Any]], *, language: str = "en"
    ) -> tuple[str, list[str]]:
        """A merchant whose contacts (priority order) behave as given on the sandbox."""
        merchant_id = f"m-{uuid.uuid4().hex[:8]}"
        phones = [self.new_phone() for _ in behaviours]
        for phone, behaviour in zip(phones, behaviours, strict=True):
            await self.behave(phone, behaviour)
        response = await self.http.post(
            "/v1/merchants",
            headers=self.platform(),
            json=payloads.merchant_body(merchant_id, phones, language=language),
        )
        assert response.status_code == 201, response.text
        return merchant_id, phones

    def refund_body(
        self,
        merchant_id: str,
        *,
        amount: str = "3000.00",
        deadline_in: float = 20,
        signals: dict[str, Any] | None = None,
        refund_id: str | None = None,
    ) -> dict[str, Any]:
        """A 3,000.00 CNY refund with an empty package (tracked), due in ``deadline_in`` s."""
        return payloads.refund_body(
            merchant_id,
            refund_id=refund_id or None,
            amount=amount,
            deadline_in=deadline_in,
            signals=signals,
        )

    async def intake(self, body: dict[str, Any]) -> httpx.Response:
        return await self.http.post("/v1/refunds", headers=self.platform(), json=body)

    async def view(self, refund_id: str) -> dict[str, Any]:
        response = await self.http.get(f"/v1/refunds/{refund_id}", headers=self.support())
        assert response.status_code == 200, response.text
        data: dict[str, Any] = response.json()
        return data

    async def wait_view(
        self, refund_id: str, condition: Callable[[dict[str, Any]], bool], timeout: float = 40
    ) -> dict[str, Any]:
        loop = asyncio.get_running_loop()
        end = loop.time() + timeout
        while True:
            view = await self.view(refund_id)
            if condition(view):
                return view
            if loop.time() > end:
                raise AssertionError(f"condition not met in {timeout} s; last view: {view}")
            await asyncio.sleep(0.3)

    @staticmethod
    async def wait_for(condition: Callable[[], Awaitable[bool]], timeout: float = 40) -> None:
        """Poll ``condition`` until it holds (AssertionError after ``timeout`` seconds)."""
        loop = asyncio.get_running_loop()
        end = loop.time() + timeout
        while not await condition():
            if loop.time() > end:
                raise AssertionError(f"condition not met in {timeout} s")
            await asyncio.sleep(0.3)

    async def outcome(self, refund_id: str, timeout: float = 60) -> str:
        handle = watch_handle(self.client, refund_id)
        return await asyncio.wait_for(handle.result(), timeout)

    async def sandbox_log(self) -> list[dict[str, Any]]:
        response = await self.sandbox.get("/sandbox/log")
        response.raise_for_status()
        data: list[dict[str, Any]] = response.json()
        return data
