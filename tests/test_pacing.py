"""Pacing: a per-channel rate shared by workers through PostgreSQL, granted by priority, and the
sandbox's CPS: beyond it calls are queued and start at the CPS rate, as Twilio does ("Calls
beyond your account's CPS limit will be queued and will execute at the CPS rate",
https://www.twilio.com/docs/voice/api/call), or refused with 429 / 20429 when a test asks for
that harder edge (cps_overflow="refuse")."""

from __future__ import annotations

import asyncio
import random
import time
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlmodel import select
from twilio.base.exceptions import TwilioRestException
from twilio.rest import Client

from config.settings import SettingsError, load_settings
from db.engine import make_engine, make_session_factory
from db.models import SendTicket, utcnow
from domain.answer_odds import PRIOR_CURVES
from notifier.base import ProviderReceipt, RetryableProviderError
from notifier.twilio_notifier import TwilioNotifier
from pacing import Pacer, PacingConfig, TicketWorth, priority_for
from tests.harness.http_server import serve_asgi
from twilio_sandbox import SandboxConfig, Scenario, Timing, create_app
from twilio_sandbox.throttle import Overflow

SID = "AC" + "7c" * 16
TOKEN = "pacing-test-token-0001"
OURS = "+14155550000"


def max_in_any_window(times: list[float], window: float = 1.0) -> int:
    """The most events in any half-open window of ``window`` seconds."""
    ordered, best, start = sorted(times), 0, 0
    for end, moment in enumerate(ordered):
        while ordered[start] <= moment - window:
            start += 1
        best = max(best, end - start + 1)
    return best


def channel_name() -> str:
    return "t" + uuid.uuid4().hex[:8]  # a channel of its own per test: no shared tickets


@pytest.fixture
async def engines(database_url: str) -> AsyncIterator[tuple[AsyncEngine, AsyncEngine]]:
    """Two engines, as two worker processes would have."""
    first, second = make_engine(database_url), make_engine(database_url)
    yield first, second
    await first.dispose()
    await second.dispose()


def pacers(engines: tuple[AsyncEngine, AsyncEngine], config: PacingConfig) -> tuple[Pacer, Pacer]:
    return (
        Pacer(make_session_factory(engines[0]), config),
        Pacer(make_session_factory(engines[1]), config),
    )


async def grant_times(engine: AsyncEngine, channel: str) -> list[float]:
    async with make_session_factory(engine)() as session:
        rows = await session.exec(select(SendTicket).where(SendTicket.channel == channel))
        return sorted(t.granted_at.timestamp() for t in rows.all() if t.granted_at is not None)


# ---------------------------------------------------------------------------- the shared rate


async def test_two_workers_together_never_exceed_the_rate(
    engines: tuple[AsyncEngine, AsyncEngine],
) -> None:
    channel, limit, sends = channel_name(), 3, 18
    first, second = pacers(engines, PacingConfig(rates={channel: limit}))
    returned: list[float] = []

    async def send(pacer: Pacer, n: int) -> None:
        await pacer.acquire(key=f"{channel}:{n}", channel=channel, priority=random.random())
        returned.append(time.monotonic())

    await asyncio.gather(*(send(first if n % 2 else second, n) for n in range(sends)))

    granted = await grant_times(engines[0], channel)
    assert len(granted) == sends
    assert len(returned) == sends, "every sender was let go"
    # The guarantee is on the database's grant times. How soon a process notices its grant,
    # and the rate achieved, depend on machine load: bench/pacing_priority.py measures those.
    assert max_in_any_window(granted) <= limit, "the database's grant times"
    achieved = (sends - 1) / (granted[-1] - granted[0])
    assert achieved <= limit, f"{achieved:.2f}/s for a limit of {limit}/s"


async def test_the_highest_priority_waiting_send_goes_first(
    engines: tuple[AsyncEngine, AsyncEngine],
) -> None:
    channel = channel_name()
    config = PacingConfig(rates={channel: 1}, window_seconds=0.25, margin_seconds=0)
    first, second = pacers(engines, config)
    await first.acquire(key=f"{channel}:busy", channel=channel, priority=0)  # fills the window
    # Arrival order is not value order; two equal priorities keep their arrival order.
    arrivals = [(3.0, "c"), (9.0, "a"), (1.0, "f"), (5.0, "b"), (2.0, "d1"), (2.0, "d2")]
    for n, (priority, name) in enumerate(arrivals):
        pacer = first if n % 2 else second
        await pacer.enqueue(key=f"{channel}:{name}", channel=channel, priority=priority)
    order: list[str] = []

    async def send(pacer: Pacer, priority: float, name: str) -> None:
        await pacer.acquire(key=f"{channel}:{name}", channel=channel, priority=priority)
        order.append(name)

    await asyncio.gather(
        *(send(first if n % 2 else second, p, name) for n, (p, name) in enumerate(arrivals))
    )
    assert order == ["a", "b", "c", "d1", "d2", "f"]


async def test_a_granted_send_asking_again_goes_at_once_and_a_released_one_queues_again(
    engines: tuple[AsyncEngine, AsyncEngine],
) -> None:
    channel = channel_name()
    first, second = pacers(
        engines, PacingConfig(rates={channel: 1}, window_seconds=0.5, margin_seconds=0)
    )
    await first.acquire(key=f"{channel}:a", channel=channel, priority=1)
    started = time.monotonic()
    await second.acquire(key=f"{channel}:a", channel=channel, priority=1)  # an activity retry
    assert time.monotonic() - started < 0.2, "the slot was already granted to this key"

    await first.release_unused(f"{channel}:a")  # e.g. the provider answered 429: nothing sent
    started = time.monotonic()
    await second.acquire(key=f"{channel}:b", channel=channel, priority=1)
    assert time.monotonic() - started < 0.2, "the released slot is free again"
    await first.acquire(key=f"{channel}:a", channel=channel, priority=1)
    assert time.monotonic() - started >= 0.4, "the retry waited for a slot of its own"


async def test_a_cancelled_wait_takes_its_ticket_back(
    engines: tuple[AsyncEngine, AsyncEngine],
) -> None:
    channel = channel_name()
    pacer, _ = pacers(engines, PacingConfig(rates={channel: 1}))
    await pacer.acquire(key=f"{channel}:first", channel=channel, priority=1)
    waiting = asyncio.create_task(
        pacer.acquire(key=f"{channel}:second", channel=channel, priority=1)
    )
    await asyncio.sleep(0.2)
    waiting.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiting
    async with make_session_factory(engines[0])() as session:
        assert await session.get(SendTicket, f"{channel}:second") is None


async def test_old_tickets_are_cleaned_up(engines: tuple[AsyncEngine, AsyncEngine]) -> None:
    channel = channel_name()
    sessions = make_session_factory(engines[0])
    long_ago = utcnow() - timedelta(hours=2)
    async with sessions() as session:
        session.add(SendTicket(idempotency_key=f"{channel}:old", channel=channel, priority=1,
                               enqueued_at=long_ago, granted_at=long_ago))  # fmt: skip
        session.add(SendTicket(idempotency_key=f"{channel}:lost", channel=channel, priority=1,
                               enqueued_at=long_ago))  # fmt: skip
        await session.commit()
    pacer = Pacer(sessions, PacingConfig(rates={channel: 1}))
    await pacer.acquire(key=f"{channel}:new", channel=channel, priority=1)  # cleans up first
    async with sessions() as session:
        left = (await session.exec(select(SendTicket).where(SendTicket.channel == channel))).all()
    assert [ticket.idempotency_key for ticket in left] == [f"{channel}:new"]


async def test_a_waiting_tickets_priority_is_recomputed_as_time_passes(
    engines: tuple[AsyncEngine, AsyncEngine],
) -> None:
    """Two calls wait behind a full window. At first the big refund due in 1,000 s ranks first;
    300 s later (on the Pacer's clock) the smaller one, due in 600 s, has less time to spare and
    overtakes it: the stored priorities follow, and so does the grant."""
    channel = channel_name()
    start = datetime(2026, 11, 25, 6, 0, tzinfo=UTC)  # 14:00 in Shanghai
    clock = {"now": start}
    sessions = make_session_factory(engines[0])
    pacer = Pacer(
        sessions,
        PacingConfig(
            rates={channel: 1}, window_seconds=3.0, margin_seconds=0, max_poll_seconds=0.1
        ),
        clock=lambda: clock["now"],
    )
    await pacer.acquire(key=f"{channel}:busy", channel=channel)  # fills the 3 s window
    big = TicketWorth(10_000, start + timedelta(seconds=1000))
    small = TicketWorth(5_000, start + timedelta(seconds=600))
    order: list[str] = []

    async def send(name: str, worth: TicketWorth) -> None:
        await pacer.acquire(key=f"{channel}:{name}", channel=channel, worth=worth)
        order.append(name)

    async def stored() -> dict[str, float]:
        async with sessions() as session:
            rows = (
                await session.exec(select(SendTicket).where(SendTicket.channel == channel))
            ).all()
        return {t.idempotency_key.rsplit(":", 1)[1]: t.priority for t in rows if not t.granted_at}

    tasks = [asyncio.create_task(send("big", big)), asyncio.create_task(send("small", small))]
    await asyncio.sleep(0.5)
    before = await stored()
    assert before["big"] == pytest.approx(10_000 / 1000) and before["small"] == pytest.approx(
        5_000 / 600
    )
    assert before["big"] > before["small"]
    clock["now"] = start + timedelta(seconds=300)
    await asyncio.sleep(0.5)
    after = await stored()
    assert after["big"] == pytest.approx(10_000 / 700) and after["small"] == pytest.approx(
        5_000 / 300
    )
    assert after["small"] > after["big"]
    await asyncio.gather(*tasks)
    assert order == ["small", "big"]


def test_a_call_is_worth_the_chance_of_an_answer_at_the_callees_hour() -> None:
    prior = PRIOR_CURVES["phoneburner_hiya"]
    deadline = datetime(2026, 11, 25, 12, tzinfo=UTC)
    call = TicketWorth(100_000, deadline, prior, "Asia/Shanghai")
    ten_am = datetime(2026, 11, 25, 2, tzinfo=UTC)  # 10:00 in Shanghai: the curve's peak
    six_am = datetime(2026, 11, 24, 22, tzinfo=UTC)  # 06:00 in Shanghai
    assert call.answer_now(ten_am) == prior[10] and call.answer_now(six_am) == prior[6]
    assert call.worth_at(ten_am) == pytest.approx(100_000 * prior[10])
    # The same call, the same seconds left, is worth more when the callee is awake.
    assert call.priority_at(ten_am) > call.priority_at(six_am) * 2
    sms = TicketWorth(100_000, deadline)
    assert sms.worth_at(six_am) == 100_000
    assert sms.priority_at(deadline - timedelta(seconds=30)) == 100_000 / 60  # the floor


# ---------------------------------------------------------------------------- priority and settings


def test_priority_is_expected_loss_per_second_left() -> None:
    # Same deadline: the larger expected loss (amount × risk) first.
    assert priority_for(500_000, 80, 600) > priority_for(500_000, 40, 600)
    assert priority_for(900_000, 50, 600) > priority_for(500_000, 80, 600)
    # A mid-sized refund due in 4 minutes before a large one due in 3 hours.
    assert priority_for(200_000, 70, 240) > priority_for(2_000_000, 70, 3 * 3600)
    # Under a minute left, urgency is the same: the expected loss decides.
    assert priority_for(10_000, 90, 3) < priority_for(300_000, 90, 50)
    assert priority_for(10_000, 90, 3) == priority_for(10_000, 90, 60)
    assert priority_for(100_000, 150, 60) == priority_for(100_000, 100, 60) == 100_000 / 60
    assert priority_for(100_000, 0, 60) == 0


def test_rates_come_from_the_settings() -> None:
    required = {
        "twilio_account_sid": SID,
        "twilio_auth_token": TOKEN,
        "twilio_from_number": OURS,
        "public_base_url": "https://rw.example.com",
        "platform_tokens": "platform-token-0000001",
        "support_tokens": "support-token-00000001",
        "merchant_token_secret": "s3cret",
    }
    settings = load_settings(**required, calls_per_second=5)
    config = PacingConfig.from_settings(settings)
    assert (config.limit("call"), config.limit("sms")) == (5, 1)
    with pytest.raises(SettingsError, match="REFUNDWATCH_SMS_PER_SECOND"):
        load_settings(**required, sms_per_second=0)
    with pytest.raises(ValueError, match="no pacing rate for channel 'fax'"):
        config.limit("fax")


# ---------------------------------------------------------------------------- the sandbox's CPS


def cps_config(overflow: Overflow) -> SandboxConfig:
    """A sandbox account with 2 calls per second; nobody answers, callbacks go nowhere."""
    return SandboxConfig(
        account_sid=SID,
        auth_token=TOKEN,
        scenario=Scenario.model_validate({"default": {"calls": [{"answer": "busy"}]}}),
        timing=Timing(dial_seconds=0, ring_seconds=0),
        calls_per_second=2,
        cps_overflow=overflow,
    )


@pytest.fixture
async def queueing_sandbox() -> AsyncIterator[str]:
    """Twilio's behaviour beyond the CPS: the call waits in the queue."""
    async with serve_asgi(create_app(cps_config("queue"))) as url:
        yield url


@pytest.fixture
async def throttled_sandbox() -> AsyncIterator[str]:
    """The harder edge, for a client's pacing to show: beyond the CPS a create is refused."""
    async with serve_asgi(create_app(cps_config("refuse"))) as url:
        yield url


async def sandbox_log(url: str, kind: str) -> list[dict[str, object]]:
    async with httpx.AsyncClient(base_url=url) as http:
        response = await http.get("/sandbox/log", params={"kind": kind})
    response.raise_for_status()
    events: list[dict[str, object]] = response.json()
    return events


async def test_sandbox_queues_calls_beyond_its_cps_as_twilio_does(
    queueing_sandbox: str, throttled_sandbox: str
) -> None:
    def call(base_url: str) -> Any:
        client = Client(SID, TOKEN)
        client.api.base_url = base_url
        return client.calls.create(to="+8613800000001", from_=OURS, url="http://127.0.0.1:9/v")

    burst = [await asyncio.to_thread(call, queueing_sandbox) for _ in range(5)]
    assert [c.status for c in burst] == ["queued"] * 5, "every create is taken"
    waits = [int(c.queue_time) for c in burst]  # the estimate Twilio reports, in ms
    assert waits[:2] == [0, 0] and 0 < waits[2] <= 1000 and waits[4] > 1000, waits
    for _ in range(100):
        started = await sandbox_log(queueing_sandbox, "call.initiated")
        if len(started) == 5:
            break
        await asyncio.sleep(0.1)
    at = [datetime.fromisoformat(str(event["at"])).timestamp() for event in started]
    assert len(at) == 5 and max_in_any_window(at) <= 2, "they start at the CPS rate"
    assert at[-1] - at[0] >= 1.9, "five calls at 2 a second take two seconds to start"
    assert not await sandbox_log(queueing_sandbox, "call.rejected")

    # cps_overflow="refuse": the same rate as a hard edge, Twilio's 429 body.
    await asyncio.to_thread(call, throttled_sandbox)
    await asyncio.to_thread(call, throttled_sandbox)
    with pytest.raises(TwilioRestException) as refused:
        await asyncio.to_thread(call, throttled_sandbox)
    assert (refused.value.status, refused.value.code) == (429, 20429)
    async with httpx.AsyncClient(base_url=throttled_sandbox, auth=(SID, TOKEN)) as http:
        raw = await http.post(
            f"/2010-04-01/Accounts/{SID}/Calls.json",
            data={"To": "+8613800000001", "From": OURS, "Url": "http://127.0.0.1:9/v"},
        )
    assert raw.status_code == 429
    assert raw.json() == {
        "code": 20429,
        "message": "Too Many Requests",
        "more_info": "https://www.twilio.com/docs/errors/20429",
        "status": 429,
    }
    rejected = await sandbox_log(throttled_sandbox, "call.rejected")
    assert [event["code"] for event in rejected] == [20429, 20429]
    await asyncio.sleep(1.0)
    await asyncio.to_thread(call, throttled_sandbox)  # the window has moved on
    assert len(await sandbox_log(throttled_sandbox, "call.created")) == 3


async def test_paced_calls_from_two_workers_stay_within_the_accounts_cps(
    throttled_sandbox: str, engines: tuple[AsyncEngine, AsyncEngine]
) -> None:
    notifier = TwilioNotifier(
        account_sid=SID, auth_token=TOKEN, from_number=OURS, api_base_url=throttled_sandbox
    )

    async def place(n: int) -> ProviderReceipt:
        return await notifier.place_call(
            to=f"+86138000001{n:02d}",
            voice_url="http://127.0.0.1:9/voice",
            status_callback="http://127.0.0.1:9/status",
            amd=None,
            ring_timeout_s=30,
        )

    try:
        # Unpaced, a burst goes beyond the CPS: the notifier reports a retryable error.
        burst = await asyncio.gather(*(place(n) for n in range(4)), return_exceptions=True)
        refused = [r for r in burst if isinstance(r, RetryableProviderError)]
        assert refused and all(r.code == 20429 and r.http_status == 429 for r in refused)
        await asyncio.sleep(1.0)

        channel = channel_name()
        first, second = pacers(engines, PacingConfig(rates={channel: 2}))

        async def paced(pacer: Pacer, n: int) -> ProviderReceipt:
            # As the send activity does: a 429 that network jitter can still cause is retried.
            for _ in range(5):
                await pacer.acquire(key=f"{channel}:{n}", channel=channel, priority=float(n))
                try:
                    return await place(n)
                except RetryableProviderError:
                    await pacer.release_unused(f"{channel}:{n}")
                    await asyncio.sleep(0.5)
            raise AssertionError(f"send {n} never got through")

        sends = 8
        receipts = await asyncio.gather(
            *(paced(first if n % 2 else second, n) for n in range(sends))
        )
        assert all(receipt.sid.startswith("CA") for receipt in receipts), "all got through"
    finally:
        await notifier.close()
    created = await sandbox_log(throttled_sandbox, "call.created")
    paced_at = [datetime.fromisoformat(str(event["at"])).timestamp() for event in created]
    assert len(paced_at) == len(burst) - len(refused) + sends
    assert max_in_any_window(paced_at[-sends:]) <= 2
