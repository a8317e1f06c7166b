"""Faults: no refund is lost and nothing is sent twice when processes crash or Twilio misbehaves.

Each test runs a batch of escalations with short deadlines (tests/policy.yaml, in seconds) and
mixed merchant behaviour, breaks something in the middle, then checks what a user would check:

* every refund reached its correct outcome — ``resolved`` when the merchant answered and the
  platform (this test) resolved it before the deadline, ``timed_out`` with its loss otherwise;
  a merchant who pressed 1 and heard refundwatch's confirmation in time is never lost, and
  the crash tests' last merchants, called once the faults are over, are all saved;
* the Twilio sandbox's own log shows no SMS or call created twice for one idempotency key (the
  key travels in each StatusCallback URL as ``?key=``), and every SMS or call it created is
  known to refundwatch with its final status recorded exactly once.

Each test has a PostgreSQL database, a Twilio sandbox and a Temporal task queue of its own
(the restart test a dev server of its own too): the refunds a crash leaves open, the sandbox's
fault rates and its log stay with the test, and its database is dropped however it ends.

Sizes: ``REFUNDWATCH_FAULT_REFUNDS`` refunds per batch (default 40), seeded by
``REFUNDWATCH_FAULT_SEED`` (default 6; a failure message names the seed to rerun with).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import signal
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from sqlmodel import col, select
from temporalio.client import Client
from temporalio.service import RPCError
from temporalio.testing import WorkflowEnvironment

from api.app import create_app
from application.services import build_services
from config.settings import Settings
from db.engine import SessionFactory, make_engine, make_session_factory
from db.models import AuditEvent, LossEntry, NotificationAttempt, PlatformEvent, Refund
from demo.payloads import merchant_body, refund_body
from notifier.twilio_notifier import TwilioNotifier
from tests.conftest import ACCOUNT_SID, AUTH_TOKEN, PLATFORM_TOKEN
from tests.harness.database import fresh_database
from tests.harness.http_server import free_port, serve_asgi
from tests.harness.processes import Children, TemporalPorts, settings_env
from twilio_sandbox import CallbackPolicy, SandboxConfig
from twilio_sandbox import create_app as create_sandbox
from twilio_sandbox.faults import FaultPolicy
from worker import build_worker
from workflows.ids import workflow_id_for

SIZE = int(os.environ.get("REFUNDWATCH_FAULT_REFUNDS", "40"))
SEED = int(os.environ.get("REFUNDWATCH_FAULT_SEED", "6"))

ANSWERS_1: dict[str, Any] = {"calls": [{"answer": "human", "digits": ["1"]}]}
NEVER: dict[str, Any] = {"calls": [{"answer": "no-answer"}]}
UNDELIVERED: dict[str, Any] = {"sms": [{"status": "undelivered", "error_code": 30003}]}
INVALID_FOR_SMS: dict[str, Any] = {"create_error": {"code": 21211, "channel": "sms"}}
INVALID_FOR_CALLS: dict[str, Any] = {"create_error": {"code": 21211, "channel": "call"}}

# name → sandbox behaviour of each contact, in priority order
MIXED: dict[str, list[dict[str, Any]]] = {
    "answers_1": [ANSWERS_1],
    "never_answers": [NEVER],
    "sms_undelivered": [{**UNDELIVERED, **NEVER}],
    "sms_undelivered_answers_1": [{**UNDELIVERED, **ANSWERS_1}],
}
# Refunds taken once the crash tests' faults are over: each must be heard and saved.
LAST_WAVE: dict[str, list[dict[str, Any]]] = {"last_wave_answers_1": [ANSWERS_1]}

# A resolution accepted this close to the deadline races the deadline timer: either is right.
RACE = timedelta(seconds=0.5)
# A call "brought forward" by a failed SMS follows the failure within this (pacing included).
PROMPT = timedelta(seconds=3)
EITHER = {"resolved", "timed_out"}
CREATES = {"message.created", "call.created"}
FINALS = {
    "message.status": {"delivered", "undelivered", "failed"},
    "call.ended": {"completed", "busy", "no-answer", "failed", "canceled"},
}


# ---------------------------------------------------------------------- helpers
async def eventually(
    what: str, check: Callable[[], Awaitable[list[str]]], timeout_s: float
) -> None:
    """Poll ``check`` (which lists what is still wrong) until it lists nothing."""
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout_s
    while True:
        problems = await check()
        if not problems:
            return
        if loop.time() > end:
            shown = "\n  ".join(problems[:20])
            raise AssertionError(f"{what} (seed {SEED}), {len(problems)} problem(s):\n  {shown}")
        await asyncio.sleep(0.5)


async def post_retrying(
    http: httpx.AsyncClient, path: str, body: dict[str, Any], *, timeout_s: float = 60
) -> httpx.Response:
    """POST as the platform does: again on a connection error or 5xx, until a real answer."""
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout_s
    while True:
        try:
            response = await http.post(path, json=body)
            if response.status_code < 500:
                return response
        except httpx.TransportError:
            pass
        if loop.time() > end:
            raise AssertionError(f"POST {path} got no answer below 500 in {timeout_s} s")
        await asyncio.sleep(0.3)


def key_of(callback_url: object) -> str | None:
    if not isinstance(callback_url, str):
        return None
    keys = parse_qs(urlsplit(callback_url).query).get("key")
    return keys[0] if keys else None


@dataclass
class Watch:
    refund_id: str
    kind: str
    phones: list[str]
    deadline: datetime
    heard_at: datetime | None = None  # refundwatch answered the merchant's "1" (sandbox log)
    sent_at: datetime | None = None  # the platform (this test) first sent its resolution
    recorded_at: datetime | None = None  # the API stored it (its platform event's received_at)
    resolved_at: datetime | None = None  # the API answered 200
    refused_at: datetime | None = None  # the API refused it (409): the refund had closed

    def expected(self) -> set[str]:
        """The outcomes that are right for what happened; empty when none can be."""
        if self.refused_at is not None:
            # Only the deadline closes a refund this test did not resolve, and never before it.
            return {"timed_out"} if self.refused_at >= self.deadline else set()
        if self.sent_at is not None and self.sent_at >= self.deadline:
            # Decided at or after the deadline: the auto-approval refundwatch exists to prevent,
            # a loss even if the resolution beat the deadline timer.
            return {"timed_out"}
        if self.recorded_at is not None:
            # Decided and stored before the deadline: resolved, even if telling the watch had to
            # wait (a 503 while Temporal was down, then the platform's retry). Stored within
            # RACE of the deadline, it races the deadline timer.
            return {"resolved"} if self.recorded_at < self.deadline - RACE else EITHER
        if self.heard_at is not None and self.heard_at < self.deadline - RACE:
            return set()  # the merchant was told "handled" in time, and the platform never knew
        return {"timed_out"}

    def timeline(self) -> str:
        """Each moment relative to the deadline, for failure messages."""
        moments = {
            "heard": self.heard_at,
            "sent": self.sent_at,
            "recorded": self.recorded_at,
            "resolved": self.resolved_at,
            "refused": self.refused_at,
        }
        shown = [
            f"{name} {(at - self.deadline).total_seconds():+.2f}s"
            for name, at in moments.items()
            if at is not None
        ]
        return ", ".join(shown) or "never heard nor resolved"


@dataclass
class Batch:
    """A batch of refunds played through the API as the platform plays them."""

    api: httpx.AsyncClient  # base_url = the API, platform token set
    sandbox: httpx.AsyncClient
    sessions: SessionFactory
    temporal: Callable[[], Client]
    rng: random.Random
    watches: dict[str, Watch] = field(default_factory=dict)
    started: float | None = None  # event-loop time of the first submission

    def elapsed(self) -> float:
        assert self.started is not None, "nothing submitted yet"
        return asyncio.get_running_loop().time() - self.started

    # ------------------------------------------------------------------ playing
    async def submit(
        self, kinds: dict[str, list[dict[str, Any]]], size: int, *, first_s: float, spread_s: float
    ) -> None:
        if self.started is None:
            self.started = asyncio.get_running_loop().time()
        names = [list(kinds)[i % len(kinds)] for i in range(size)]
        self.rng.shuffle(names)
        gate = asyncio.Semaphore(8)

        async def one(index: int, kind: str) -> None:
            async with gate:
                phones = ["+86139" + f"{self.rng.randrange(10**8):08d}" for _ in kinds[kind]]
                for phone, behaviour in zip(phones, kinds[kind], strict=True):
                    (
                        await self.sandbox.put(f"/sandbox/numbers/{phone}", json=behaviour)
                    ).raise_for_status()
                merchant_id = f"m-fault-{uuid.uuid4().hex[:8]}"
                merchant = merchant_body(merchant_id, phones, name="Fault Test Merchant")
                response = await post_retrying(self.api, "/v1/merchants", merchant)
                assert response.status_code == 201, response.text
                now = datetime.now(UTC)
                deadline = now + timedelta(seconds=first_s + spread_s * index / max(1, size - 1))
                refund_id = f"R-fault-{uuid.uuid4().hex[:10]}"
                refund = refund_body(
                    merchant_id, refund_id=refund_id, deadline_in=deadline - now, now=now
                )
                response = await post_retrying(self.api, "/v1/refunds", refund)
                assert response.status_code == 201, response.text
                assert response.json()["tracked"] is True
                self.watches[refund_id] = Watch(refund_id, kind, phones, deadline)

        await asyncio.gather(*(one(i, kind) for i, kind in enumerate(names)))

    async def submit_last_wave(self) -> None:
        """A few merchants who answer, taken once the faults are over: refundwatch must work
        as usual after them, and the resolved path is tested however long they lasted."""
        await self.submit(LAST_WAVE, 4, first_s=14, spread_s=2)

    async def resolve_answered(self, stop: asyncio.Event) -> None:
        """The platform: once a merchant has answered, it resolves the refund. After ``stop``,
        one last round, so that no answer is left without the platform's word on it."""
        while True:
            last = stop.is_set()
            async with self.sessions() as session:
                statement = select(Refund.refund_id).where(
                    col(Refund.refund_id).in_(list(self.watches)),
                    col(Refund.merchant_answer).is_not(None),
                )
                answered = list((await session.exec(statement)).all())
            for refund_id in answered:
                watch = self.watches[refund_id]
                if watch.sent_at is not None:
                    continue
                watch.sent_at = datetime.now(UTC)
                response = await post_retrying(
                    self.api,
                    f"/v1/refunds/{refund_id}/resolution",
                    {"resolution": "rejected", "event_id": f"ev-{refund_id}"},
                )
                if response.status_code == 200:
                    watch.resolved_at = datetime.now(UTC)
                else:
                    assert response.status_code == 409, response.text
                    watch.refused_at = datetime.now(UTC)
            if last:
                return
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), 0.3)

    async def outcomes(self, timeout_s: float) -> dict[str, str]:
        """Each workflow's result, asking again while the server is unreachable."""
        results: dict[str, str] = {}
        loop = asyncio.get_running_loop()
        end = loop.time() + timeout_s
        for refund_id in self.watches:
            while refund_id not in results:
                handle = self.temporal().get_workflow_handle(workflow_id_for(refund_id))
                try:
                    results[refund_id] = await asyncio.wait_for(
                        handle.result(), max(1.0, end - loop.time())
                    )
                except (RPCError, TimeoutError) as err:
                    if loop.time() > end:
                        raise AssertionError(
                            f"{refund_id} has no outcome after {timeout_s} s (seed {SEED}): {err}"
                        ) from None
                    await asyncio.sleep(0.5)
        return results

    async def close_unfinished(self) -> None:
        """End whatever watch is still running (after a failure), so that nothing of this test
        goes on in a Temporal server that other tests use."""
        for refund_id in self.watches:
            with contextlib.suppress(RPCError):  # finished already
                handle = self.temporal().get_workflow_handle(workflow_id_for(refund_id))
                await handle.terminate(reason="fault test ended")

    # ------------------------------------------------------------------ checking
    async def hear(self) -> None:
        """From the sandbox log: when refundwatch first answered a merchant's "1" on a call.

        The sandbox records what the callee pressed at each <Gather>, then the answer to the
        Gather's action request; a 2xx answer is the confirmation the merchant hears."""
        response = await self.sandbox.get("/sandbox/log")
        response.raise_for_status()
        pressed: dict[str, object] = {}  # call sid → digits of its last <Gather>
        for event in response.json():
            if event["kind"] == "gather":
                pressed[event["sid"]] = event.get("digits")
                continue
            url = event.get("url")
            if event["kind"] != "twiml.fetched" or not isinstance(url, str):
                continue
            parts = urlsplit(url)
            refunds = parse_qs(parts.query).get("refund", [])
            status = event.get("http_status") or 0
            if not parts.path.endswith("/voice/gather") or not 200 <= status < 300:
                continue
            watch = self.watches.get(refunds[0]) if refunds else None
            if watch is not None and pressed.get(event["sid"]) == "1":
                at = datetime.fromisoformat(event["at"])
                watch.heard_at = min(at, watch.heard_at or at)

    async def recorded(self) -> None:
        """From the database: when the API stored each resolution this test sent."""
        async with self.sessions() as session:
            statement = select(PlatformEvent).where(
                col(PlatformEvent.refund_id).in_(list(self.watches)),
                PlatformEvent.kind == "resolution",
            )
            for event in await session.exec(statement):
                self.watches[event.refund_id].recorded_at = event.received_at

    async def assert_outcomes(self, outcomes: dict[str, str]) -> None:
        """Each outcome follows from when the merchant was heard and the platform decided."""
        await self.hear()
        await self.recorded()
        wrong = [w for w in self.watches.values() if outcomes[w.refund_id] not in w.expected()]
        if wrong:
            lines = [
                f"{w.refund_id} ({w.kind}): {outcomes[w.refund_id]}, expected"
                f" {sorted(w.expected()) or 'none (see the times)'}; {w.timeline()}"
                for w in wrong
            ]
            story = await self.story(wrong[0])
            shown = "\n  ".join(lines)
            raise AssertionError(
                f"wrong outcomes (seed {SEED}):\n  {shown}\nthe sandbox log of the first:\n{story}"
            )
        # A crash can cost an answer (a call placed late or cut off is not repeated blindly):
        # then the merchant was never heard, and timed_out is right, as checked above. But the
        # last wave's merchants, called once the faults are over, are heard and saved; and the
        # batch must have saved some, or the resolved path went untested.
        lost = [
            f"{w.refund_id}: {outcomes[w.refund_id]}; {w.timeline()}"
            for w in self.watches.values()
            if w.kind in LAST_WAVE and outcomes[w.refund_id] != "resolved"
        ]
        assert not lost, f"merchants called after the faults were lost (seed {SEED}):\n  " + (
            "\n  ".join(lost)
        )
        timelines = [f"{w.refund_id} ({w.kind}): {w.timeline()}" for w in self.watches.values()]
        assert "resolved" in outcomes.values(), f"nothing was saved (seed {SEED}):\n  " + (
            "\n  ".join(timelines[:10])
        )

    async def story(self, watch: Watch) -> str:
        """What the sandbox did for this watch's numbers: for failure messages."""
        response = await self.sandbox.get("/sandbox/log")
        lines = []
        sids: set[str] = set()
        for event in response.json():
            mine = event.get("to") in watch.phones or event.get("sid") in sids
            if mine and event.get("sid"):
                sids.add(event["sid"])
            if mine:
                detail = {k: v for k, v in event.items() if k not in {"seq", "sid", "body", "text"}}
                lines.append(f"  {detail}"[:300])
        return "\n".join(lines[:60])

    async def assert_records(self, outcomes: dict[str, str]) -> None:
        """The database agrees with Temporal: state, loss ledger, and the outcome audit event."""
        ids = list(self.watches)
        async with self.sessions() as session:
            refunds = {
                r.refund_id: r
                for r in (await session.exec(select(Refund).where(col(Refund.refund_id).in_(ids))))
            }
            losses = set(
                (
                    await session.exec(
                        select(LossEntry.refund_id).where(col(LossEntry.refund_id).in_(ids))
                    )
                ).all()
            )
            closing = Counter(
                (
                    await session.exec(
                        select(AuditEvent.refund_id).where(
                            col(AuditEvent.refund_id).in_(ids),
                            col(AuditEvent.kind).in_(["refund.resolved", "refund.timed_out"]),
                        )
                    )
                ).all()
            )
        problems = []
        for refund_id, outcome in outcomes.items():
            if refunds[refund_id].state != outcome:
                problems.append(f"{refund_id}: state {refunds[refund_id].state} != {outcome}")
            if (refund_id in losses) != (outcome == "timed_out"):
                problems.append(f"{refund_id}: {outcome} but loss entry {refund_id in losses}")
            if closing[refund_id] != 1:
                problems.append(f"{refund_id}: {closing[refund_id]} closing audit events")
        assert not problems, f"records disagree (seed {SEED}):\n  " + "\n  ".join(problems)

    async def sends(self) -> tuple[Counter[str], dict[str, str], dict[str, str]]:
        """From the sandbox log: creates per key, the sid of each key, each sid's final status."""
        response = await self.sandbox.get("/sandbox/log")
        response.raise_for_status()
        ours = tuple(f"{workflow_id_for(rid)}:" for rid in self.watches)
        created: Counter[str] = Counter()
        sid_of: dict[str, str] = {}
        final: dict[str, str] = {}
        for event in response.json():
            if event["kind"] in CREATES:
                key = key_of(event.get("status_callback"))
                if key is not None and key.startswith(ours):
                    created[key] += 1
                    sid_of[key] = event["sid"]
            elif event["kind"] in FINALS and event.get("status") in FINALS[event["kind"]]:
                final[event["sid"]] = event["status"]
        return created, sid_of, final

    async def closed_after_deadline(self) -> set[str]:
        """Keys of sends given up as "closed": each must have been closed at or after its
        refund's deadline (a retry that would have gone out too late), never before."""
        async with self.sessions() as session:
            statement = select(NotificationAttempt, Refund).where(
                NotificationAttempt.status == "closed",
                NotificationAttempt.refund_id == Refund.refund_id,
                col(Refund.refund_id).in_(list(self.watches)),
            )
            rows = (await session.exec(statement)).all()
        early = [
            attempt.idempotency_key
            for attempt, refund in rows
            if datetime.fromisoformat(str(attempt.status_history[-1]["at"])) < refund.deadline_at
            and refund.closed_at is None
        ]
        assert not early, f"sends closed before their deadline: {early}"
        return {attempt.idempotency_key for attempt, _ in rows}

    async def deliveries(self, sid: str) -> str:
        """The sandbox's status callbacks for one SMS or call and our answers: for messages."""
        params = {"sid": sid, "kind": "callback"}
        response = await self.sandbox.get("/sandbox/log", params=params)
        response.raise_for_status()
        shown = [
            f"{e['status']}→{e['http_status'] or e['error']} at {e['at'][11:23]}"
            for e in response.json()
        ]
        return ", ".join(shown)

    async def assert_each_send_once(self, settle_s: float = 30) -> None:
        created, _, _ = await self.sends()
        twice = {key: n for key, n in created.items() if n > 1}
        assert not twice, f"sent more than once (seed {SEED}): {twice}"
        assert created, "the batch sent nothing"

        async def unrecorded() -> list[str]:
            """Sends refundwatch does not know of, or whose final status has not landed once."""
            _, sid_of, final = await self.sends()
            async with self.sessions() as session:
                statement = select(NotificationAttempt).where(
                    col(NotificationAttempt.idempotency_key).in_(list(sid_of))
                )
                attempts = {a.idempotency_key: a for a in await session.exec(statement)}
            problems = []
            for key, sid in sid_of.items():
                attempt = attempts.get(key)
                if attempt is None or attempt.provider_sid != sid:
                    problems.append(
                        f"{key}: sandbox sid {sid}, ours {attempt and attempt.provider_sid}"
                    )
                    continue
                statuses = [entry["status"] for entry in attempt.status_history]
                duplicated = [s for s, n in Counter(statuses).items() if n > 1]
                if duplicated:
                    problems.append(f"{key}: statuses recorded twice: {duplicated}")
                if sid not in final:
                    problems.append(f"{key}: the sandbox has not finished {sid} yet")
                elif final[sid] not in statuses:
                    ours = [
                        f"{e['status']} at {str(e['at'])[11:23]}" for e in attempt.status_history
                    ]
                    problems.append(
                        f"{key}: final status {final[sid]} not recorded: {', '.join(ours)};"
                        f" sandbox's callbacks: {await self.deliveries(sid)}"
                    )
            return problems

        await eventually("sends unknown to refundwatch or missing statuses", unrecorded, settle_s)


# ---------------------------------------------------------------------- isolation
@pytest.fixture
async def own_database() -> AsyncIterator[str]:
    """A database of this test's own, dropped afterwards (with whatever a crash left open)."""
    async with fresh_database() as url:
        yield url


@pytest.fixture
async def db_sessions(own_database: str) -> AsyncIterator[SessionFactory]:
    engine = make_engine(own_database, pool_size=4)
    try:
        yield make_session_factory(engine)
    finally:
        await engine.dispose()


@asynccontextmanager
async def own_sandbox(**config: Any) -> AsyncIterator[tuple[str, httpx.AsyncClient]]:
    """A Twilio sandbox of this test's own: its URL and a client for its control API."""
    sandbox = SandboxConfig(account_sid=ACCOUNT_SID, auth_token=AUTH_TOKEN, **config)
    async with (
        serve_asgi(create_sandbox(sandbox)) as url,
        httpx.AsyncClient(base_url=url, timeout=30) as client,
    ):
        yield url, client


def _own(
    settings: Settings, *, database_url: str, sandbox_url: str, api_port: int, **changes: Any
) -> Settings:
    """The session's settings on this test's own database, sandbox, API port and task queue."""
    update = {
        "database_url": database_url,
        "twilio_api_base_url": sandbox_url,
        "public_base_url": f"http://127.0.0.1:{api_port}",
        "temporal_task_queue": f"refundwatch-faults-{uuid.uuid4().hex[:6]}",
    }
    return settings.model_copy(update={**update, **changes})


@asynccontextmanager
async def batch_on(
    settings: Settings,
    sandbox: httpx.AsyncClient,
    sessions: SessionFactory,
    temporal: Client,
    rng: random.Random,
) -> AsyncIterator[Batch]:
    """A batch played through the API at ``settings.public_base_url``, on a Temporal server
    other tests share: whatever watch a failure leaves running is ended on the way out."""
    async with _platform(settings.public_base_url) as api:
        batch = Batch(api, sandbox, sessions, lambda: temporal, rng)
        try:
            yield batch
        finally:
            await batch.close_unfinished()


@asynccontextmanager
async def resolving(batch: Batch) -> AsyncIterator[None]:
    """The platform resolving answered refunds in the background while the block runs; on a
    normal exit it finishes its last round (and raises what went wrong in it)."""
    stop = asyncio.Event()
    task = asyncio.create_task(batch.resolve_answered(stop))
    try:
        yield
    except BaseException:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await task  # the block's own error is the one to report
        raise
    stop.set()
    await task


async def assert_refused_callbacks_landed_later(batch: Batch, settle_s: float = 30) -> None:
    """Callbacks that met a dead API (or a 5xx while Temporal was down) landed on a retry,
    exactly once, and refundwatch recorded each of their statuses exactly once."""
    log = (await batch.sandbox.get("/sandbox/log", params={"kind": "callback"})).json()
    refused = {(e["sid"], e["status"]) for e in log if not e["delivered"]}
    assert refused, "no callback met the outage: the restarts came at the wrong time"

    async def unlanded() -> list[str]:
        log = (await batch.sandbox.get("/sandbox/log", params={"kind": "callback"})).json()
        landed = Counter((e["sid"], e["status"]) for e in log if e["delivered"])
        async with batch.sessions() as session:
            statement = select(NotificationAttempt).where(
                col(NotificationAttempt.provider_sid).in_({sid for sid, _ in refused})
            )
            history = {
                a.provider_sid: [entry["status"] for entry in a.status_history]
                for a in await session.exec(statement)
            }
        problems = []
        for sid, status in sorted(refused):
            recorded = history.get(sid, []).count(status)
            if landed[(sid, status)] != 1 or recorded != 1:
                problems.append(
                    f"{sid} {status}: delivered {landed[(sid, status)]}×, recorded {recorded}×"
                )
        return problems

    await eventually("callbacks refused during the outage", unlanded, settle_s)


def _platform(base_url: str) -> httpx.AsyncClient:
    headers = {"Authorization": f"Bearer {PLATFORM_TOKEN}"}
    return httpx.AsyncClient(base_url=base_url, headers=headers, timeout=30)


# ---------------------------------------------------------------------- the sandbox's faults
async def test_sandbox_injects_provider_faults_at_the_rates_set() -> None:
    config = SandboxConfig(account_sid=ACCOUNT_SID, auth_token=AUTH_TOKEN)
    async with serve_asgi(create_sandbox(config)) as url, httpx.AsyncClient(base_url=url) as http:
        policy = {"server_error_rate": 0.5, "rate_limit_rate": 0.5, "seed": 1}
        assert (await http.put("/sandbox/faults", json=policy)).status_code == 200
        form = {"To": "+8613900000001", "From": "+14155550000", "Body": "hi"}
        path = f"/2010-04-01/Accounts/{ACCOUNT_SID}/Messages.json"
        codes: Counter[tuple[int, int]] = Counter()
        for _ in range(20):
            response = await http.post(path, data=form, auth=(ACCOUNT_SID, AUTH_TOKEN))
            codes[(response.status_code, response.json()["code"])] += 1
        assert set(codes) == {(500, 20500), (429, 20429)}
        state = (await http.get("/sandbox/faults")).json()
        assert sum(state["injected"].values()) == 20
        refused = await http.put("/sandbox/faults", json={"slow_rate": 0.6, "rate_limit_rate": 0.6})
        assert refused.status_code == 422
        assert (await http.put("/sandbox/faults", json={})).status_code == 200
        response = await http.post(path, data=form, auth=(ACCOUNT_SID, AUTH_TOKEN))
        assert response.status_code == 201
        log = (await http.get("/sandbox/log", params={"kind": "message.created"})).json()
        assert len(log) == 1, "a refused create creates nothing"


# ---------------------------------------------------------------------- worker crashes
async def start_worker(children: Children) -> None:
    """Start the worker child and wait until it polls its task queue."""
    logged = children.log_size("worker")
    children.start_worker()
    await children.wait_log("worker", "worker_started", after=logged)


async def test_worker_killed_mid_run_loses_nothing_and_sends_nothing_twice(
    temporal_env: WorkflowEnvironment,
    settings: Settings,
    own_database: str,
    db_sessions: SessionFactory,
    tmp_path: Path,
) -> None:
    rng = random.Random(SEED)
    api_port = free_port()
    # Twilio answering a create in about a second keeps sends in flight, so the kills cut some
    # of them off between the provider's answer and our record of it.
    slow = FaultPolicy(slow_rate=0.5, slow_seconds=1.0, seed=SEED)
    async with own_sandbox(faults=slow) as (sandbox_url, sandbox):
        own = _own(
            settings,
            database_url=own_database,
            sandbox_url=sandbox_url,
            api_port=api_port,
            temporal_address=temporal_env.client.service_client.config.target_host,
        )
        services = await build_services(own, temporal=temporal_env.client)
        children = Children(tmp_path, settings_env(own))
        try:
            async with (
                batch_on(own, sandbox, db_sessions, temporal_env.client, rng) as batch,
                serve_asgi(create_app(own, services), port=api_port),
            ):
                await start_worker(children)
                await batch.submit(MIXED, SIZE, first_s=18, spread_s=12)
                async with resolving(batch):
                    for moment in sorted(rng.uniform(1, 20) for _ in range(3)):
                        await asyncio.sleep(max(0.0, moment - batch.elapsed()))
                        children.kill("worker")  # kill -9: no graceful shutdown, cut off
                        await asyncio.sleep(rng.uniform(0.5, 3))
                        # Up again before the next kill, however slowly it starts.
                        await start_worker(children)
                    await batch.submit_last_wave()
                    outcomes = await batch.outcomes(timeout_s=120)
                assert children.kills == 3
                await batch.assert_outcomes(outcomes)
                await batch.assert_records(outcomes)
                await batch.assert_each_send_once()
        finally:
            children.stop()
            await services.engine.dispose()


# ---------------------------------------------------------------------- server and API restarts
async def test_temporal_server_and_api_restarted_mid_run_lose_nothing(
    settings: Settings, own_database: str, db_sessions: SessionFactory, tmp_path: Path
) -> None:
    rng = random.Random(SEED + 1)
    ports, api_port = TemporalPorts.free(), free_port()
    # Twilio retries a status callback its receiver did not take; cover a few seconds of outage.
    patient = CallbackPolicy(
        attempts=12, backoff_seconds=0.5, backoff_factor=1.5, timeout_seconds=5
    )
    async with own_sandbox(callbacks=patient) as (sandbox_url, sandbox):
        own = _own(
            settings,
            database_url=own_database,
            sandbox_url=sandbox_url,
            api_port=api_port,
            temporal_address=ports.address,
        )
        children = Children(tmp_path, settings_env(own))
        try:
            children.start_temporal(ports)
            client = await children.wait_temporal(ports)
            children.start_api(api_port)
            children.start_worker()
            await children.wait_http("api", f"http://127.0.0.1:{api_port}/readyz")
            async with _platform(f"http://127.0.0.1:{api_port}") as api:
                batch = Batch(api, sandbox, db_sessions, lambda: client, rng)
                await batch.submit(MIXED, SIZE, first_s=18, spread_s=12)
                async with resolving(batch):
                    await asyncio.sleep(max(0.0, rng.uniform(3, 6) - batch.elapsed()))
                    children.kill("api")  # callbacks and webhooks fail while it is down
                    await asyncio.sleep(rng.uniform(2, 4))
                    children.start_api(api_port)
                    await children.wait_http("api", f"http://127.0.0.1:{api_port}/healthz")
                    await asyncio.sleep(max(0.0, rng.uniform(9, 13) - batch.elapsed()))
                    children.kill("temporal", signal.SIGTERM)  # stopped; its file DB stays
                    await asyncio.sleep(rng.uniform(2, 4))
                    children.start_temporal(ports)
                    await children.wait_http("temporal", f"http://127.0.0.1:{ports.ui}/")
                    await batch.submit_last_wave()
                    outcomes = await batch.outcomes(timeout_s=120)
                await batch.assert_outcomes(outcomes)
                await batch.assert_records(outcomes)
                await batch.assert_each_send_once()
                await assert_refused_callbacks_landed_later(batch)
                assert children.running("worker"), "the worker must ride out a server restart"
        finally:
            children.stop()  # the dev server goes with its watches, finished or not


# ---------------------------------------------------------------------- provider faults
GAP = timedelta(seconds=1)  # time a failover needs before the deadline stops all calls
CLIENT_TIMEOUT_S = 2.0  # our Twilio client's request timeout in this test; slow answers exceed it
FAULTY: dict[str, list[dict[str, Any]]] = {
    "answers_1": [ANSWERS_1],
    "never_answers": [NEVER],
    "sms_invalid_number_answers_1": [{**INVALID_FOR_SMS, **ANSWERS_1}],
    "call_invalid_number_backup_answers_1": [{**INVALID_FOR_CALLS, **NEVER}, ANSWERS_1],
}


async def test_provider_faults_neither_lose_nor_repeat_sends_and_final_errors_fail_over(
    temporal_env: WorkflowEnvironment,
    settings: Settings,
    own_database: str,
    db_sessions: SessionFactory,
) -> None:
    rng = random.Random(SEED + 2)
    api_port = free_port()
    faults = FaultPolicy(
        server_error_rate=0.15,
        rate_limit_rate=0.15,
        slow_rate=0.1,
        slow_seconds=CLIENT_TIMEOUT_S + 1.5,
        seed=SEED,
    )
    async with own_sandbox(faults=faults) as (sandbox_url, sandbox):
        own = _own(settings, database_url=own_database, sandbox_url=sandbox_url, api_port=api_port)
        notifier = TwilioNotifier(
            account_sid=ACCOUNT_SID,
            auth_token=AUTH_TOKEN,
            from_number=own.twilio_from_number,
            api_base_url=sandbox_url,
            request_timeout_s=CLIENT_TIMEOUT_S,
        )
        services = await build_services(own, temporal=temporal_env.client)
        try:
            async with (
                batch_on(own, sandbox, db_sessions, temporal_env.client, rng) as batch,
                serve_asgi(create_app(own, services), port=api_port),
                build_worker(temporal_env.client, own, notifier) as worker,
                worker,
            ):
                await batch.submit(FAULTY, SIZE, first_s=18, spread_s=8)
                async with resolving(batch):
                    outcomes = await batch.outcomes(timeout_s=120)
                await batch.assert_outcomes(outcomes)
                await batch.assert_records(outcomes)
                await batch.assert_each_send_once()
                await assert_faults_retried_and_final_errors_failed_over(batch)
        finally:
            await notifier.close()
            await services.engine.dispose()


async def assert_faults_retried_and_final_errors_failed_over(batch: Batch) -> None:
    created, _, _ = await batch.sends()
    log = (await batch.sandbox.get("/sandbox/log")).json()
    refusals: dict[str, list[int]] = {}
    final_at: dict[str, datetime] = {}  # when the provider refused a key for good (21211)
    for event in log:
        key = key_of(event.get("status_callback"))
        if event["kind"] in {"message.rejected", "call.rejected"} and key is not None:
            refusals.setdefault(key, []).append(event["code"])
            if event["code"] == 21211:
                final_at[key] = datetime.fromisoformat(event["at"])
    state = (await batch.sandbox.get("/sandbox/faults")).json()
    assert state["injected"].get("slow"), state
    retried = {key for key, codes in refusals.items() if {20500, 20429} & set(codes)}
    assert retried, "no 500 or 429 was injected: raise the rates"
    # A refused create is sent again until the provider takes it, unless it ends in a final error
    # or the refund's deadline passed first (then it is recorded "closed", never sent late).
    closed = await batch.closed_after_deadline()
    given_up = closed | {key for key in retried if 21211 in refusals[key]}
    problems = [f"{key}: refused {refusals[key]}, then created {created[key]}×"
                for key in retried if created[key] != 1 and key not in given_up]  # fmt: skip
    failed_over = 0
    for watch in batch.watches.values():
        wid = workflow_id_for(watch.refund_id)
        sms = f"{wid}:sms_reminder:c0:a1"
        if watch.kind.startswith("sms_invalid"):
            if refusals.get(sms, []).count(21211) != 1 or created[sms]:
                problems.append(f"{sms}: 21211 must be tried once: {refusals.get(sms)}")
            continue
        # Every due SMS goes out exactly once, whatever the faults — unless its retries ran past
        # the deadline, where it is recorded "closed" (checked above) rather than sent late.
        if created[sms] != 1 and sms not in closed:
            problems.append(f"{sms}: created {created[sms]}×, refused {refusals.get(sms)}")
        if watch.kind.startswith("call_invalid"):
            calls = [key for key in {*refusals, *created} if key.startswith(f"{wid}:")]
            primary = [key for key in calls if _step(key).endswith("_call") and ":c0:" in key]
            # Failed over = the backup contact was tried (a fault may still refuse that try).
            backup = [key for key in calls if ":c1:" in key]
            # 21211 exactly once — unless injected 429/500s held the try until the deadline,
            # where it is recorded "closed" (verified to be after the deadline above).
            tried = {key: refusals.get(key, []).count(21211) for key in primary}
            wrong = [k for k, n in tried.items() if created[k] or (n != 1 and k not in closed)]
            if wrong:
                problems.append(f"{wid}: invalid primary number called again: {primary}")
            if any(key.endswith(":a2") for key in primary):
                problems.append(f"{wid}: a retry after 21211: {primary}")
            # With time left after the refusal, the backup contact must be called instead.
            time_left = [k for k in primary if k in final_at and final_at[k] < watch.deadline - GAP]
            if time_left and not backup:
                problems.append(f"{wid}: no call failed over to the backup contact")
            failed_over += bool(backup)
    assert not problems, f"provider faults (seed {SEED}):\n  " + "\n  ".join(problems)
    assert failed_over, "no call failed over to a backup contact: the batch did not test it"
    invalid_sms = [w.refund_id for w in batch.watches.values() if w.kind.startswith("sms_invalid")]
    late = [rid for rid in invalid_sms if not await _call_brought_forward(batch, rid)]
    assert not late, f"an invalid number for SMS must bring the call forward: {late}"


async def _call_brought_forward(batch: Batch, refund_id: str) -> bool:
    """After the SMS failed for good, the first call was moved earlier — or was due already."""
    async with batch.sessions() as session:
        statement = select(AuditEvent).where(AuditEvent.refund_id == refund_id)
        events = list((await session.exec(statement)).all())
    if any(e.kind == "step.moved_earlier" for e in events):
        return True
    failed = [e.at for e in events if e.kind == "send.failed" and e.detail.get("channel") == "sms"]
    planned = next(e.detail["steps"] for e in events if e.kind == "ladder.planned")
    first_call = next(datetime.fromisoformat(s["at"]) for s in planned if s["step"] == "first_call")
    if not failed:
        return False
    if min(failed) >= first_call:
        return True
    # Failed just before the call was due (e.g. after a retried 500): by the time the watch
    # heard, the call was due anyway — it must then follow the failure at once, not wait.
    calls = [e.at for e in events if e.kind == "send.call" and e.detail.get("step") == "first_call"]
    return bool(calls) and min(calls) <= min(failed) + PROMPT


def _step(key: str) -> str:
    """The step name in ``refund-<id>:<step>:c<contact>:a<attempt>``."""
    return key.split(":")[1]
