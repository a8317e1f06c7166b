"""Signed webhook delivery, retried the way Twilio retries when our side is down."""

from __future__ import annotations

import asyncio

import httpx
import structlog
from twilio.request_validator import RequestValidator

from twilio_sandbox.config import Timing
from twilio_sandbox.store import Store

__all__ = ["Deliverer"]

log = structlog.get_logger(__name__)


class Deliverer:
    def __init__(self, auth_token: str, timing: Timing, store: Store) -> None:
        self._validator = RequestValidator(auth_token)
        self._timing = timing
        self._store = store
        self._http = httpx.AsyncClient(timeout=timing.callback_timeout)

    def signature(self, url: str, params: dict[str, str]) -> str:
        signature: str = self._validator.compute_signature(url, params)
        return signature

    async def post(self, url: str, params: dict[str, str], *, kind: str) -> httpx.Response | None:
        """POST form params with X-Twilio-Signature; retry on connection errors and 5xx."""
        headers = {
            "X-Twilio-Signature": self.signature(url, params),
            "I-Twilio-Idempotency-Token": params.get("MessageSid", params.get("CallSid", ""))
            + ":"
            + params.get("MessageStatus", params.get("CallStatus", kind)),
        }
        backoff = self._timing.callback_backoff
        for attempt in range(1, self._timing.callback_attempts + 1):
            try:
                response = await self._http.post(url, data=params, headers=headers)
            except httpx.HTTPError as exc:
                self._store.record(
                    "callback_failed", kind=kind, url=url, attempt=attempt, error=type(exc).__name__
                )
            else:
                self._store.record(
                    "callback",
                    kind=kind,
                    url=url,
                    attempt=attempt,
                    http_status=response.status_code,
                    status=params.get("MessageStatus") or params.get("CallStatus"),
                )
                if response.status_code < 500:
                    return response
            await asyncio.sleep(backoff)
            backoff *= 2
        log.warning("callback_given_up", kind=kind, attempts=self._timing.callback_attempts)
        return None

    async def close(self) -> None:
        await self._http.aclose()
