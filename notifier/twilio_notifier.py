"""The Twilio implementation, on the official client with its async HTTP transport.

What it sends, per Twilio's REST API 2010-04-01 (twilio/twilio-oai,
spec/yaml/twilio_api_v2010.yaml, CreateMessage / CreateCall / UpdateCall / ListCall /
ListMessage), and how each failure is classified (notifier/errors.py).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from datetime import datetime
from decimal import Decimal
from typing import Any, TypeVar

import aiohttp
from twilio.base.exceptions import TwilioException, TwilioRestException, TwilioServiceException
from twilio.http.async_http_client import AsyncTwilioHttpClient
from twilio.rest import Client

from config.settings import Settings
from domain.vocabulary import Channel
from notifier.base import AmdRequest, ProviderPrice, ProviderReceipt, SendLookup
from notifier.errors import (
    AmbiguousProviderError,
    ProviderError,
    RetryableProviderError,
    classify_provider_error,
)
from notifier.twilio_words import answerer, delivery_state

__all__ = ["TwilioNotifier"]

T = TypeVar("T")

_CALL_EVENTS = ["initiated", "ringing", "answered", "completed"]
# How many of a number's latest sends to look through when settling an ambiguous one.
_FIND_PAGE = 50


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
        amd: AmdRequest | None,
        ring_timeout_s: int,
    ) -> ProviderReceipt:
        extra: dict[str, Any] = {}
        if amd is not None:
            extra["machine_detection"] = "DetectMessageEnd" if amd.wait_for_beep else "Enable"
            if amd.result_url is not None:
                extra["async_amd"] = "true"
                extra["async_amd_status_callback"] = amd.result_url
                extra["async_amd_status_callback_method"] = "POST"
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

    async def update_call(self, *, sid: str, twiml: str) -> None:
        await self._call(self._client.calls(sid).update_async(twiml=twiml))

    async def lookup(self, *, channel: Channel, sid: str) -> SendLookup:
        if channel == Channel.SMS:
            return _message(await self._call(self._client.messages(sid).fetch_async()))
        return _call_lookup(await self._call(self._client.calls(sid).fetch_async()))

    async def find_sends(self, *, channel: Channel, to: str, since: datetime) -> list[SendLookup]:
        # No date filter: a send still queued has neither DateSent nor StartTime yet, and
        # the API filters by day only; the newest page is read and filtered here instead.
        if channel == Channel.SMS:
            found = [
                _message(m)
                for m in await self._call(
                    self._client.messages.list_async(to=to, from_=self._from, limit=_FIND_PAGE)
                )
            ]
        else:
            found = [
                _call_lookup(c)
                for c in await self._call(
                    self._client.calls.list_async(to=to, from_=self._from, limit=_FIND_PAGE)
                )
            ]
        return [s for s in found if s.created_at is not None and s.created_at >= since]

    async def _call(self, request: Awaitable[T]) -> T:
        try:
            return await asyncio.wait_for(request, timeout=self._timeout)
        except TwilioServiceException as exc:
            # twilio-python 9.10+: an RFC 9457 problem body (type, title, status, code).
            message = exc.detail or exc.title
            raise classify_provider_error(message, code=exc.code, http_status=exc.status) from exc
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
        except TwilioException as exc:  # a list page that failed: "Unable to fetch page"
            raise RetryableProviderError(f"the provider could not list: {exc}") from exc

    @classmethod
    def from_settings(cls, settings: Settings) -> TwilioNotifier:
        return cls(
            account_sid=settings.twilio_account_sid,
            auth_token=settings.twilio_auth_token.get_secret_value(),
            from_number=settings.twilio_from_number,
            api_base_url=settings.twilio_api_base_url,
            request_timeout_s=float(settings.twilio_request_timeout_s),
        )

    async def close(self) -> None:
        await self._http.close()


def _price(resource: Any) -> ProviderPrice:
    if resource.price in (None, ""):
        return ProviderPrice(None, resource.price_unit)
    return ProviderPrice(abs(Decimal(str(resource.price))), resource.price_unit)


def _int(value: Any) -> int | None:
    try:
        return int(value) if value not in (None, "") else None
    except (TypeError, ValueError):
        return None


def _message(resource: Any) -> SendLookup:
    return SendLookup(
        sid=str(resource.sid),
        channel=Channel.SMS,
        state=delivery_state(str(resource.status or "")),
        to=resource.to,
        body=resource.body,
        created_at=resource.date_created,
        error_code=_int(resource.error_code),
        price=_price(resource),
    )


def _call_lookup(resource: Any) -> SendLookup:
    raw = resource.answered_by or None
    return SendLookup(
        sid=str(resource.sid),
        channel=Channel.CALL,
        state=delivery_state(str(resource.status or "")),
        to=resource.to,
        created_at=resource.date_created,
        answered_by=answerer(raw),
        raw_answered_by=raw,
        duration_s=_int(resource.duration),
        price=_price(resource),
    )
