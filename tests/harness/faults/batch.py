"""A batch of refunds played through the API as the platform plays them, and what it left behind.

The platform (this harness) posts each refund's merchant and the refund, retrying as a platform
does while the API is down; resolves a refund once its merchant has answered; reads each
watch's outcome from Temporal, asking again while the server restarts. What happened is read
back from the sandbox's own log (what Twilio created, what the merchant heard) and from the
database (what refundwatch recorded), for the checks in ``checks``.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
from sqlmodel import col, select
from temporalio.client import Client
from temporalio.service import RPCError

from db.engine import SessionFactory
from db.models import NotificationAttempt, PlatformEvent, Refund
from db.outage import database_unavailable
from demo.payloads import merchant_body, refund_body
from tests.harness.faults.scenarios import LAST_WAVE, SEED, Kinds
from tests.harness.faults.watch import Watch
from workflows.ids import workflow_id_for

__all__ = ["Batch", "key_of", "post_retrying", "put_retrying", "resolving", "step_of"]

CREATES = {"message.created", "call.created"}
FINALS = {
    "message.status": {"delivered", "undelivered", "failed"},
    "call.ended": {"completed", "busy", "no-answer", "failed", "canceled"},
}


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


async def put_retrying(
    http: httpx.AsyncClient, path: str, body: dict[str, Any], *, attempts: int = 5
) -> None:
    """PUT (idempotent) to the sandbox's control API, again on a connection error: with 150
    refunds escalating in the same event loop, a connection may be cut off under the client."""
    for attempt in range(1, attempts + 1):
        try:
            (await http.put(path, json=body)).raise_for_status()
            return
        except httpx.TransportError:
            if attempt == attempts:
                raise
            await asyncio.sleep(0.2 * attempt)


def key_of(callback_url: object) -> str | None:
    """The idempotency key a StatusCallback URL carries as ``?key=``, if any."""
    if not isinstance(callback_url, str):
        return None
    keys = parse_qs(urlsplit(callback_url).query).get("key")
    return keys[0] if keys else None


def step_of(key: str) -> str:
    """The step name in ``refund-<id>:<step>:c<contact>:a<attempt>``."""
    return key.split(":")[1]


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
    async def submit(self, kinds: Kinds, size: int, *, first_s: float, spread_s: float) -> None:
        """``size`` refunds, each of its own merchant of a kind drawn in turn from ``kinds``
        (shuffled), with deadlines spread evenly from ``first_s`` to ``first_s + spread_s``."""
        if self.started is None:
            self.started = asyncio.get_running_loop().time()
        names = [list(kinds)[i % len(kinds)] for i in range(size)]
        self.rng.shuffle(names)
        gate = asyncio.Semaphore(8)

        async def one(index: int, kind: str) -> None:
            async with gate:
                phones = ["+86139" + f"{self.rng.randrange(10**8):08d}" for _ in kinds[kind]]
                for phone, behaviour in zip(phones, kinds[kind], strict=True):
                    await put_retrying(self.sandbox, f"/sandbox/numbers/{phone}", behaviour)
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
        """A few merchants who answer, taken once the faults are over and the batch they hit
        has reached its deadlines: refundwatch must work as usual after them, and the resolved
        path is tested however long they lasted. (Taken while a restarted worker still
        catches up with a large batch, their calls queue behind its backlog: at 150 refunds on
        a shared 2-core machine that made them late, which is load, not a fault's damage.)"""
        last = max((w.deadline for w in self.watches.values()), default=datetime.now(UTC))
        await asyncio.sleep(max(0.0, (last - datetime.now(UTC)).total_seconds() + 1))
        await self.submit(LAST_WAVE, 4, first_s=14, spread_s=2)

    async def resolve_answered(self, stop: asyncio.Event) -> None:
        """The platform: once a merchant has answered, it resolves the refund. After ``stop``,
        one last round, so that no answer is left without the platform's word on it."""
        while True:
            last = stop.is_set()
            try:
                async with self.sessions() as session:
                    statement = select(Refund.refund_id).where(
                        col(Refund.refund_id).in_(list(self.watches)),
                        col(Refund.merchant_answer).is_not(None),
                    )
                    answered = list((await session.exec(statement)).all())
            except Exception as err:  # the database restart test: read again once it is back
                if not database_unavailable(err):
                    raise
                await asyncio.sleep(0.3)
                continue
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

    # ------------------------------------------------------------------ reading what happened
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
            if "outage=" in str(event.get("twiml", "")):
                continue  # the database was away: an apology and a re-ask, not a confirmation
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
