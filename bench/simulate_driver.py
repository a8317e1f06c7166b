"""Plays the platform and the merchants against one running arm, over its public interfaces.

The platform posts each refund (POST /v1/refunds) at its arrival time, with its deadline on the
compressed clock, and later the merchant's decision (POST /v1/refunds/{id}/resolution). The
merchants answer as their drawn behaviour says, and only when the real system gave them
something to answer: an in-app notice they can list (GET /v1/merchant/notices, then POST
.../answer), an SMS the sandbox delivered (a reply "1<code>" through the sandbox's inbound SMS,
which posts the signed webhook), a call (scripted in the sandbox scenario: pick up, press 1).
Whatever channel carried the answer, the merchant decides ``decide_after_h`` later; a decision
that would come after the deadline is not posted (the platform has auto-approved by then).

Nothing here decides an outcome: the workflow does, and the arm's database records it.
"""

from __future__ import annotations

import asyncio
from collections import Counter, defaultdict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import timedelta
from functools import partial

import httpx
from sqlmodel import col, select

from api.auth import merchant_token
from bench.simulate_params import SimulationParams
from bench.simulate_population import Population, SimRefund
from bench.simulate_stack import FROM_NUMBER, MERCHANT_SECRET, PLATFORM_TOKEN, ArmProcesses
from db.models import Contact, MerchantResponse, NotificationAttempt, Refund
from demo.payloads import merchant_body, refund_body
from domain.money import from_minor

__all__ = ["ArmDriver", "DriverReport"]

_POLL_S = 0.25
_INTAKE_TRIES = 3
_INTAKE_CONCURRENCY = 4


@dataclass
class DriverReport:
    """What the driver did (not outcomes: those are read from the database afterwards)."""

    refund_ids: dict[int, str] = field(default_factory=dict)
    tracked: dict[int, bool] = field(default_factory=dict)
    intake_lag_s: list[float] = field(default_factory=list)
    actions: Counter[str] = field(default_factory=Counter)
    errors: list[str] = field(default_factory=list)  # the first few, for the JSON
    seconds: float = 0.0


class ArmDriver:
    def __init__(
        self,
        arm: ArmProcesses,
        population: Population,
        params: SimulationParams,
        *,
        prefix: str,
        progress: Callable[[str], None] = lambda _: None,
    ) -> None:
        self._arm = arm
        self._population = population
        self._params = params
        self._prefix = prefix
        self._progress = progress
        self._report = DriverReport()
        self._by_id: dict[str, SimRefund] = {}
        self._deadline: dict[str, float] = {}  # loop time
        self._answered: set[str] = set()
        self._decided: set[str] = set()
        self._sms_seen: set[str] = set()
        self._pending: set[asyncio.Task[None]] = set()
        self._last_response_id = 0
        self._http = httpx.AsyncClient(timeout=30, limits=httpx.Limits(max_connections=32))

    def _seconds(self, hours: float) -> float:
        return self._params.hours_to_seconds(hours)

    def _now(self) -> float:
        return asyncio.get_running_loop().time()

    # ------------------------------------------------------------------ the run
    async def run(self) -> DriverReport:
        started = self._now()
        try:
            await self._create_merchants()
            intake = asyncio.create_task(self._intake(self._now()))
            while not intake.done() or not await self._finished():
                await self._poll()
                await asyncio.sleep(_POLL_S)
            await intake  # re-raises what failed in it
        finally:
            for task in self._pending:
                task.cancel()
            await asyncio.gather(*self._pending, return_exceptions=True)
            await self._http.aclose()
        self._report.seconds = self._now() - started
        return self._report

    async def _finished(self) -> bool:
        """Every watch closed, or the last deadline plus the grace time has passed."""
        last = max(self._deadline.values(), default=self._now())
        if self._now() > last + self._params.time.grace_s:
            return True
        async with self._arm.sessions() as session:
            statement = select(Refund.refund_id).where(Refund.state == "open").limit(1)
            return (await session.exec(statement)).first() is None

    def _later(self, delay_s: float, action: Callable[[], Awaitable[None]]) -> None:
        async def run() -> None:
            await asyncio.sleep(max(0.0, delay_s))
            await action()

        task = asyncio.create_task(run())
        self._pending.add(task)
        task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task[None]) -> None:
        self._pending.discard(task)
        error = None if task.cancelled() else task.exception()
        if error is not None:
            self._report.actions["driver_errors"] += 1
            if len(self._report.errors) < 20:
                self._report.errors.append(f"{type(error).__name__}: {error}"[:300])

    # ------------------------------------------------------------------ platform
    def _platform(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {PLATFORM_TOKEN}"}

    async def _create_merchants(self) -> None:
        gate = asyncio.Semaphore(8)

        async def create(index: int) -> None:
            merchant = self._population.merchants[index]
            body = merchant_body(
                merchant.merchant_id,
                merchant.phones,
                name=f"Sim Merchant {index}",
                contact_names=[f"Sim Contact {i + 1}" for i in range(len(merchant.phones))],
                timezone=merchant.timezone,
                language=merchant.language,
            )
            async with gate:
                response = await self._http.post(
                    f"{self._arm.api_url}/v1/merchants", json=body, headers=self._platform()
                )
            response.raise_for_status()

        await asyncio.gather(*(create(i) for i in range(len(self._population.merchants))))

    async def _intake(self, start: float) -> None:
        """Each refund posted at its arrival time, several at once; one merchant's refunds in
        arrival order (the risk gate compares an amount with the merchant's earlier ones)."""
        merchant_turn: defaultdict[str, asyncio.Lock] = defaultdict(asyncio.Lock)
        gate = asyncio.Semaphore(_INTAKE_CONCURRENCY)

        async def post(refund: SimRefund, due: float) -> None:
            async with merchant_turn[refund.merchant_id], gate:
                self._report.intake_lag_s.append(max(0.0, self._now() - due))
                await self._post_refund(refund)

        posts = []
        for refund in self._population.refunds:
            due = start + self._seconds(refund.arrival_h)
            await asyncio.sleep(max(0.0, due - self._now()))
            posts.append(asyncio.create_task(post(refund, due)))
        await asyncio.gather(*posts)
        self._progress(f"{self._arm.name}: all {len(self._population.refunds)} refunds posted")

    async def _post_refund(self, refund: SimRefund) -> None:
        refund_id = f"{self._prefix}{refund.index:05d}"
        window_s = self._seconds(refund.deadline_h)
        body = refund_body(
            refund.merchant_id,
            refund_id=refund_id,
            order_id=f"O-sim-{refund.index:05d}",
            amount=from_minor(refund.amount_minor, refund.currency),
            currency=refund.currency,
            reason="buyer requested a refund",
            requested_ago=timedelta(0),
            deadline_in=window_s,
            signals=refund.signals,
        )
        posted = self._now()
        for attempt in range(1, _INTAKE_TRIES + 1):
            response = await self._http.post(
                f"{self._arm.api_url}/v1/refunds", json=body, headers=self._platform()
            )
            if response.status_code != 503 or attempt == _INTAKE_TRIES:
                break
            await asyncio.sleep(0.5)  # the documented answer to 503: send the same again
        response.raise_for_status()
        tracked = bool(response.json()["tracked"])
        self._report.refund_ids[refund.index] = refund_id
        self._report.tracked[refund.index] = tracked
        if not tracked:
            return
        self._by_id[refund_id] = refund
        self._deadline[refund_id] = posted + window_s
        if refund.unprompted_at is not None:
            self._later(
                refund.unprompted_at * window_s,
                lambda: self._decide(refund_id, "self", "unprompted_decisions"),
            )
        if refund.in_app_after_h is not None:
            self._later(
                self._seconds(refund.in_app_after_h), lambda: self._answer_in_app(refund_id)
            )

    async def _decide(self, refund_id: str, kind: str, counter: str) -> None:
        """The merchant's decision in the back office, as the platform reports it; once per
        refund (a merchant who decided unprompted does not decide again after answering)."""
        if refund_id in self._decided:
            return
        if self._now() >= self._deadline[refund_id]:
            self._report.actions["decisions_too_late"] += 1
            return
        async with self._arm.sessions() as session:
            row = await session.get(Refund, refund_id)
        if row is None or row.state != "open":
            self._report.actions["decisions_on_closed_refunds"] += 1
            return
        self._decided.add(refund_id)
        refund = self._by_id[refund_id]
        response = await self._http.post(
            f"{self._arm.api_url}/v1/refunds/{refund_id}/resolution",
            json={"resolution": refund.resolution, "event_id": f"sim-{kind}-{refund_id}"},
            headers=self._platform(),
        )
        if response.status_code == 409:
            self._report.actions["decisions_on_closed_refunds"] += 1
            return
        response.raise_for_status()
        self._report.actions[counter] += 1

    # ------------------------------------------------------------------ merchants
    async def _answer_in_app(self, refund_id: str) -> None:
        if refund_id in self._answered or refund_id in self._decided:
            return
        refund = self._by_id[refund_id]
        headers = {"Authorization": f"Bearer {merchant_token(MERCHANT_SECRET, refund.merchant_id)}"}
        notices = await self._http.get(f"{self._arm.api_url}/v1/merchant/notices", headers=headers)
        notices.raise_for_status()
        if refund_id not in {notice["refund_id"] for notice in notices.json()}:
            self._report.actions["in_app_notice_not_listed"] += 1  # closed, or not sent yet
            return
        response = await self._http.post(
            f"{self._arm.api_url}/v1/merchant/refunds/{refund_id}/answer",
            json={"action": "handle_now", "request_id": f"sim-{refund_id}"},
            headers=headers,
        )
        if response.status_code == 409:
            self._report.actions["in_app_answers_refused"] += 1
            return
        response.raise_for_status()
        self._report.actions["in_app_answers"] += 1

    async def _reply_sms(self, refund_id: str, phone: str, code: str) -> None:
        if refund_id in self._answered:
            return
        response = await self._http.post(
            f"{self._arm.sandbox_url}/sandbox/inbound-sms",
            json={"from": phone, "to": FROM_NUMBER, "body": f"1{code}"},
        )
        response.raise_for_status()
        self._report.actions["sms_replies"] += 1

    # ------------------------------------------------------------------ what the system did
    async def _poll(self) -> None:
        async with self._arm.sessions() as session:
            answers = (
                await session.exec(
                    select(MerchantResponse)
                    .where(col(MerchantResponse.id) > self._last_response_id)
                    .order_by(col(MerchantResponse.id))
                )
            ).all()
            delivered = (
                await session.exec(
                    select(NotificationAttempt.refund_id, Contact.phone, Refund.reply_code)
                    .join(Contact, col(Contact.id) == col(NotificationAttempt.contact_id))
                    .join(Refund, col(Refund.refund_id) == col(NotificationAttempt.refund_id))
                    .where(
                        NotificationAttempt.channel == "sms",
                        NotificationAttempt.status == "delivered",
                    )
                )
            ).all()
        for answer in answers:
            assert answer.id is not None
            self._last_response_id = answer.id
            if answer.refund_id in self._answered or answer.refund_id not in self._by_id:
                continue
            self._answered.add(answer.refund_id)
            self._later(
                self._seconds(self._by_id[answer.refund_id].decide_after_h),
                partial(self._decide, answer.refund_id, "decided", "decisions_after_answer"),
            )
        for refund_id, phone, code in delivered:
            if refund_id in self._sms_seen or refund_id not in self._by_id:
                continue
            self._sms_seen.add(refund_id)
            after = self._by_id[refund_id].sms_after_h
            if after is not None and code:
                self._later(
                    self._seconds(after),
                    partial(self._reply_sms, refund_id, phone, code),
                )
