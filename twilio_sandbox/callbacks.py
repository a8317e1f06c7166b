"""Signed requests to the application: status callbacks (retried), TwiML fetches, inbound SMS.

Each request carries X-Twilio-Signature computed as Twilio does: HMAC-SHA1 of the full URL
(query string included) followed by the sorted POST fields, keyed with the auth token. A GET
carries the fields in its query string and signs that URL with no fields.
"""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass
from urllib.parse import urldefrag, urlencode

import httpx
from twilio.request_validator import RequestValidator

from twilio_sandbox.config import CallbackPolicy
from twilio_sandbox.store import Store

__all__ = ["WebhookResult", "Webhooks", "sign"]

_USER_AGENT = "TwilioProxy/1.1"
_KEPT_TEXT = 4000  # enough for any TwiML document; keeps a runaway page out of the log


def sign(auth_token: str, url: str, params: dict[str, str]) -> str:
    signature: str = RequestValidator(auth_token).compute_signature(url, params)
    return signature


@dataclass(frozen=True)
class WebhookResult:
    url: str
    status_code: int | None
    text: str = ""
    content_type: str = ""
    error: str | None = None
    attempts: int = 1

    @property
    def ok(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300

    @property
    def retryable(self) -> bool:
        return self.status_code is None or self.status_code >= 500


class Webhooks:
    def __init__(
        self, http: httpx.AsyncClient, auth_token: str, policy: CallbackPolicy, store: Store
    ) -> None:
        self._http = http
        self._token = auth_token
        self._policy = policy
        self._store = store

    async def status_callback(
        self, url: str, params: dict[str, str], *, sid: str, method: str = "POST"
    ) -> WebhookResult:
        """Deliver one status callback, retrying with backoff while the receiver is down."""
        status = params.get("MessageStatus") or params.get("CallStatus")
        idempotency = f"{sid}-{uuid.uuid4().hex[:12]}"  # the same on every retry
        delay = self._policy.backoff_seconds
        for attempt in range(1, self._policy.attempts + 1):
            result = await self._send(url, params, method, idempotency)
            self._store.record(
                "callback",
                sid,
                url=url,
                method=method,
                status=status,
                attempt=attempt,
                http_status=result.status_code,
                error=result.error,
                delivered=result.ok,
            )
            if not result.retryable or attempt == self._policy.attempts:
                return WebhookResult(
                    result.url,
                    result.status_code,
                    result.text,
                    result.content_type,
                    result.error,
                    attempt,
                )
            await asyncio.sleep(delay)
            delay *= self._policy.backoff_factor
        raise AssertionError("unreachable: the loop returns on its last attempt")

    async def request(
        self, url: str, params: dict[str, str], *, method: str = "POST"
    ) -> WebhookResult:
        """One signed request whose answer matters now (TwiML, inbound SMS): no retries."""
        return await self._send(url, params, method, uuid.uuid4().hex)

    async def _send(
        self, url: str, params: dict[str, str], method: str, idempotency: str
    ) -> WebhookResult:
        url = urldefrag(url).url
        headers = {"User-Agent": _USER_AGENT, "I-Twilio-Idempotency-Token": idempotency}
        try:
            if method.upper() == "GET":
                full = f"{url}{'&' if '?' in url else '?'}{urlencode(params)}" if params else url
                headers["X-Twilio-Signature"] = sign(self._token, full, {})
                response = await self._http.get(
                    full, headers=headers, timeout=self._policy.timeout_seconds
                )
            else:
                headers["X-Twilio-Signature"] = sign(self._token, url, params)
                response = await self._http.post(
                    url, data=params, headers=headers, timeout=self._policy.timeout_seconds
                )
        except (httpx.HTTPError, httpx.InvalidURL) as err:
            return WebhookResult(url, None, error=f"{type(err).__name__}: {err}".rstrip(": "))
        return WebhookResult(
            url,
            response.status_code,
            response.text[:_KEPT_TEXT],
            response.headers.get("content-type", ""),
        )
