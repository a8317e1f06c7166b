"""Signed requests to the application: status and AMD callbacks, TwiML fetches, inbound SMS.

Each request carries X-Twilio-Signature computed as Twilio does: HMAC-SHA1 of the full URL
(query string included, fragment excluded) followed by the sorted POST fields, keyed with the
account's *primary* auth token (tokens.py). A GET carries the fields in its query string and
signs that URL with no fields.

Delivery is Twilio's: one try, unless the URL's connection overrides ask for retries
(overrides.py). The old sandbox habit of retrying every callback with backoff survives only as
an explicit, kinder-than-Twilio option (CallbackPolicy, SandboxConfig.kinder_callback_retries).
"""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass
from urllib.parse import urlencode

import httpx
from pydantic import BaseModel, ConfigDict, Field
from twilio.request_validator import RequestValidator

from twilio_sandbox.overrides import FailureClass, Overrides, parse_overrides
from twilio_sandbox.store import Store
from twilio_sandbox.tokens import AuthTokens

__all__ = ["CallbackPolicy", "WebhookResult", "Webhooks", "sign"]

_USER_AGENT = "TwilioProxy/1.1"
_KEPT_TEXT = 4000  # enough for any TwiML document; keeps a runaway page out of the log


def sign(auth_token: str, url: str, params: dict[str, str]) -> str:
    signature: str = RequestValidator(auth_token).compute_signature(url, params)
    return signature


class CallbackPolicy(BaseModel):
    """Kinder than Twilio, for tests that need it: status and AMD callbacks retried with backoff
    on connection errors, timeouts and 5xx, whatever their URL asks. Twilio does no such thing."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    attempts: int = Field(default=1, ge=1, le=20)
    backoff_seconds: float = Field(default=0.2, ge=0)
    backoff_factor: float = Field(default=2.0, ge=1)
    timeout_seconds: float = Field(default=15.0, gt=0, description="read timeout per attempt")


@dataclass(frozen=True)
class WebhookResult:
    url: str
    status_code: int | None
    text: str = ""
    content_type: str = ""
    error: str | None = None
    attempts: int = 1
    failure: FailureClass | None = None

    @property
    def ok(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


def _failure(status_code: int | None, error: Exception | None) -> FailureClass | None:
    if isinstance(error, httpx.ConnectError | httpx.ConnectTimeout | httpx.InvalidURL):
        return "ct"
    if error is not None:
        return "rt"  # connected, but no (whole) answer in time
    if status_code is not None and status_code >= 500:
        return "5xx"
    if status_code is not None and status_code >= 400:
        return "4xx"
    return None


class Webhooks:
    def __init__(
        self,
        http: httpx.AsyncClient,
        tokens: AuthTokens,
        store: Store,
        kinder: CallbackPolicy | None = None,
    ) -> None:
        self._http = http
        self._tokens = tokens
        self._store = store
        self._kinder = kinder

    async def callback(
        self,
        url: str,
        params: dict[str, str],
        *,
        sid: str,
        method: str = "POST",
        kind: str = "callback",
        idempotency: str | None = None,
    ) -> WebhookResult:
        """A status or AMD callback: Twilio's delivery, each attempt in the event log."""
        status = params.get("MessageStatus") or params.get("CallStatus")
        token = idempotency or f"{sid}-{uuid.uuid4().hex[:12]}"  # the same on every retry
        result = await self.request(
            url, params, method=method, sid=sid, log_kind=kind, status=status, idempotency=token
        )
        kinder, attempt = self._kinder, result.attempts
        if kinder is None:
            return result
        delay = kinder.backoff_seconds
        while result.failure in {"ct", "rt", "5xx"} and attempt < kinder.attempts:
            await asyncio.sleep(delay)
            delay *= kinder.backoff_factor
            attempt += 1
            result = await self._attempt(result.url, params, method, token, Overrides(), kinder)
            self._log(kind, sid, result, method, status, attempt)
        return result

    async def request(
        self,
        url: str,
        params: dict[str, str],
        *,
        method: str = "POST",
        sid: str | None = None,
        log_kind: str | None = None,
        status: str | None = None,
        idempotency: str | None = None,
    ) -> WebhookResult:
        """One webhook as Twilio makes it: retried only as the URL's overrides ask."""
        bare, overrides, problems = parse_overrides(url)
        for problem in problems:
            self._store.record(
                "notification", sid, code=problem.code, error=problem.message, url=bare
            )
        token = idempotency or uuid.uuid4().hex
        attempt, result = 0, WebhookResult(bare, None, error="not attempted")
        try:
            async with asyncio.timeout(overrides.total_ms / 1000):
                while True:
                    attempt += 1
                    result = await self._attempt(bare, params, method, token, overrides, None)
                    if log_kind is not None:
                        self._log(log_kind, sid, result, method, status, attempt)
                    failure = result.failure
                    if failure is None or attempt > overrides.retries:
                        break
                    if not overrides.retries_on(failure):
                        break
        except TimeoutError:
            detail = f"total time out (tt={overrides.total_ms} ms) after {attempt} attempt(s)"
            self._store.record("notification", sid, code=11203, error=detail, url=bare)
            result = WebhookResult(bare, None, error=detail, failure="rt")
            if log_kind is not None:
                self._log(log_kind, sid, result, method, status, attempt)
        return WebhookResult(
            result.url,
            result.status_code,
            result.text,
            result.content_type,
            result.error,
            attempt,
            result.failure,
        )

    def _log(
        self,
        kind: str,
        sid: str | None,
        result: WebhookResult,
        method: str,
        status: str | None,
        attempt: int,
    ) -> None:
        self._store.record(
            kind,
            sid,
            url=result.url,
            method=method,
            status=status,
            attempt=attempt,
            http_status=result.status_code,
            error=result.error,
            delivered=result.ok,
        )

    async def _attempt(
        self,
        url: str,
        params: dict[str, str],
        method: str,
        idempotency: str,
        overrides: Overrides,
        kinder: CallbackPolicy | None,
    ) -> WebhookResult:
        connect = overrides.connect_ms / 1000
        read = kinder.timeout_seconds if kinder is not None else overrides.read_ms / 1000
        timeout = httpx.Timeout(connect=connect, read=read, write=read, pool=connect)
        headers = {"User-Agent": _USER_AGENT, "I-Twilio-Idempotency-Token": idempotency}
        token = self._tokens.primary  # Twilio signs with the primary token only
        try:
            if method.upper() == "GET":
                full = f"{url}{'&' if '?' in url else '?'}{urlencode(params)}" if params else url
                headers["X-Twilio-Signature"] = sign(token, full, {})
                response = await self._http.get(full, headers=headers, timeout=timeout)
            else:
                headers["X-Twilio-Signature"] = sign(token, url, params)
                response = await self._http.post(url, data=params, headers=headers, timeout=timeout)
        except (httpx.HTTPError, httpx.InvalidURL) as err:
            detail = f"{type(err).__name__}: {err}".rstrip(": ")
            return WebhookResult(url, None, error=detail, failure=_failure(None, err))
        return WebhookResult(
            url,
            response.status_code,
            response.text[:_KEPT_TEXT],
            response.headers.get("content-type", ""),
            failure=_failure(response.status_code, None),
        )
