"""The Twilio implementation, on the official client with its async HTTP transport."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from decimal import Decimal
from typing import Any, TypeVar

import aiohttp
from twilio.base.exceptions import TwilioRestException
from twilio.http.async_http_client import AsyncTwilioHttpClient
from twilio.rest import Client

from config.settings import Settings
from notifier.base import (
    AmbiguousProviderError,
    ProviderError,
    ProviderPrice,
    ProviderReceipt,
    RetryableProviderError,
    classify_provider_error,
)

__all__ = ["TwilioNotifier"]

T = TypeVar("T")

_CALL_EVENTS = ["initiated", "ringing", "answered", "completed"]


class TwilioNotifier:
    def __init__(
        self,
        *,
        account_sid: str,
        auth_token: str,
        from_number: str,
        api_base_url: str | None = None,
        request_timeout_s: float = 15.0,
    ) -> None:
        self._http = AsyncTwilioHttpClient()
        self._client = Client(account_sid, auth_token, http_client=self._http)
        if api_base_url:
            # Requests go to {base}/2010-04-01/Accounts/{sid}/Messages.json and Calls.json.
            self._client.api.base_url = api_base_url
        self._from = from_number
        self._timeout = request_timeout_s

    async def send_sms(self, *, to: str, body: str, status_callback: str) -> ProviderReceipt:
        message = await self._call(
            self._client.messages.create_async(
                to=to, from_=self._from, body=body, status_callback=status_callback
            )
        )
        return ProviderReceipt(sid=str(message.sid), status=str(message.status))

    async def place_call(
        self,
        *,
        to: str,
        voice_url: str,
        status_callback: str,
        machine_detection: bool,
        ring_timeout_s: int,
    ) -> ProviderReceipt:
        extra: dict[str, Any] = {}
        if machine_detection:
            extra["machine_detection"] = "Enable"
        call = await self._call(
            self._client.calls.create_async(
                to=to,
                from_=self._from,
                url=voice_url,
                method="POST",
                status_callback=status_callback,
                status_callback_event=_CALL_EVENTS,
                status_callback_method="POST",
                timeout=ring_timeout_s,
                **extra,
            )
        )
        return ProviderReceipt(sid=str(call.sid), status=str(call.status))

    async def _call(self, request: Awaitable[T]) -> T:
        try:
            return await asyncio.wait_for(request, timeout=self._timeout)
        except TwilioRestException as exc:
            raise classify_provider_error(
                str(exc.msg), code=exc.code, http_status=exc.status
            ) from exc
        except (aiohttp.ClientConnectorError, ConnectionRefusedError) as exc:
            # Nothing reached the provider: safe to send again.
            raise RetryableProviderError(f"cannot connect to the provider: {exc}") from exc
        except (TimeoutError, aiohttp.ClientError) as exc:
            raise AmbiguousProviderError(f"no answer from the provider: {exc!r}") from exc
        except ProviderError:
            raise

    async def fetch_price(self, *, channel: str, sid: str) -> ProviderPrice:
        resource: Any = await self._call(
            self._client.messages(sid).fetch_async()
            if channel == "sms"
            else self._client.calls(sid).fetch_async()
        )
        if resource.price in (None, ""):
            return ProviderPrice(None, resource.price_unit)
        return ProviderPrice(abs(Decimal(str(resource.price))), resource.price_unit)

    @classmethod
    def from_settings(cls, settings: Settings) -> TwilioNotifier:
        return cls(
            account_sid=settings.twilio_account_sid,
            auth_token=settings.twilio_auth_token.get_secret_value(),
            from_number=settings.twilio_from_number,
            api_base_url=settings.twilio_api_base_url,
        )

    async def close(self) -> None:
        await self._http.close()
