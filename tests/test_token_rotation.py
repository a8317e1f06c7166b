"""An auth-token rotation played against the Twilio sandbox, step by step as docs/operations.md
says, with every webhook (inbound SMS here; TwiML fetches and callbacks go through the same
signature check) accepted at each step.

Twilio signs webhooks with the primary token only; a secondary token authenticates REST
requests but signs nothing until it is promoted, and promoting it retires the old primary.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
from pydantic import SecretStr

from api.app import create_app
from application.services import build_services
from config.settings import Settings
from notifier.errors import FinalProviderError
from notifier.twilio_notifier import TwilioNotifier
from tests.conftest import ACCOUNT_SID, AUTH_TOKEN
from tests.harness.http_server import free_port, serve_asgi
from tests.harness.stack import LiveStack
from twilio_sandbox import SandboxConfig
from twilio_sandbox import create_app as create_sandbox

NEW_TOKEN = "rotated-auth-token-0123456789"
OUR_NUMBER = "+14155550000"


@asynccontextmanager
async def _api(stack: LiveStack, port: int, sandbox_url: str, **twilio: Any) -> AsyncIterator[None]:
    """refundwatch's API as deployed with these Twilio settings (same database, Temporal)."""
    settings: Settings = stack.settings.model_copy(
        update={
            "public_base_url": f"http://127.0.0.1:{port}",
            "twilio_api_base_url": sandbox_url,
            **twilio,
        }
    )
    services = await build_services(settings, temporal=stack.client)
    try:
        async with serve_asgi(create_app(settings, services), port=port):
            yield
    finally:
        await services.close()


async def _text(sandbox: httpx.AsyncClient, phone: str, body: str) -> dict[str, Any]:
    response = await sandbox.post(
        "/sandbox/inbound-sms", json={"from": phone, "to": OUR_NUMBER, "body": body}
    )
    assert response.status_code == 200, response.text
    reply: dict[str, Any] = response.json()
    return reply


def _notifier(sandbox_url: str, token: str) -> TwilioNotifier:
    return TwilioNotifier(
        account_sid=ACCOUNT_SID, auth_token=token, from_number=OUR_NUMBER, api_base_url=sandbox_url
    )


async def _rest_works(sandbox_url: str, token: str, phone: str) -> bool:
    """Does Twilio take a REST request made with ``token``? (401 when it does not.)"""
    notifier = _notifier(sandbox_url, token)
    refused: int | None = None
    try:
        await notifier.send_sms(
            to=phone, body="rotation check", status_callback="http://127.0.0.1:9/x"
        )
    except FinalProviderError as err:
        refused = err.http_status
    finally:
        await notifier.close()
    if refused not in (None, 401):
        raise AssertionError(f"refused with {refused}, not 401")
    return refused is None


async def test_a_token_rotation_keeps_every_webhook_working(stack: LiveStack) -> None:
    _, phones = await stack.merchant([{}])
    phone = phones[0]
    port = free_port()
    config = SandboxConfig(
        account_sid=ACCOUNT_SID,
        auth_token=AUTH_TOKEN,
        inbound_sms_url=f"http://127.0.0.1:{port}/twilio/sms",
    )
    async with (
        serve_asgi(create_sandbox(config)) as sandbox_url,
        httpx.AsyncClient(base_url=sandbox_url, timeout=30) as sandbox,
    ):
        # Before: one token.
        async with _api(stack, port, sandbox_url):
            assert (await _text(sandbox, phone, "HELP"))["status_code"] == 200

        # 1. A secondary token is created: Twilio still signs with the old primary.
        created = await sandbox.post("/sandbox/auth-tokens/secondary", json={"token": NEW_TOKEN})
        assert created.status_code == 201, created.text

        # What the old runbook said (switch to the secondary first) refuses every webhook.
        async with _api(stack, port, sandbox_url, twilio_auth_token=SecretStr(NEW_TOKEN)):
            assert (await _text(sandbox, phone, "HELP"))["status_code"] == 403

        # 2. The new token for REST, the old one still accepted on webhooks.
        rotating = {
            "twilio_auth_token": SecretStr(NEW_TOKEN),
            "twilio_webhook_auth_tokens": [SecretStr(AUTH_TOKEN)],
        }
        async with _api(stack, port, sandbox_url, **rotating):
            assert (await _text(sandbox, phone, "HELP"))["status_code"] == 200
            assert await _rest_works(sandbox_url, NEW_TOKEN, phone)

            # 3. Promotion: Twilio now signs with the new token; the old one is gone.
            promoted = await sandbox.post("/sandbox/auth-tokens/promote")
            assert promoted.status_code == 200, promoted.text
            assert (await _text(sandbox, phone, "HELP"))["status_code"] == 200
            assert not await _rest_works(sandbox_url, AUTH_TOKEN, phone)
            assert await _rest_works(sandbox_url, NEW_TOKEN, phone)

        # 4. The old token removed: still every webhook accepted.
        async with _api(stack, port, sandbox_url, twilio_auth_token=SecretStr(NEW_TOKEN)):
            reply = await _text(sandbox, phone, "HELP")
            assert reply["status_code"] == 200
            assert any("Reply 1" in text for text in reply["replies"])
