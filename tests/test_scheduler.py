"""The scheduler on the real stack: reconciler, overdue flags, leases, daily report, command."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import httpx
import pytest
from prometheus_client import REGISTRY
from prometheus_client.parser import text_string_to_metric_families
from sqlmodel import col, func, select
from temporalio.client import WorkflowExecutionStatus
from temporalio.testing import WorkflowEnvironment

from config.settings import Settings
from db.engine import SessionFactory, make_engine, make_session_factory
from db.migrate import upgrade
from db.models import (
    AuditEvent,
    LossEntry,
    LossReport,
    NotificationAttempt,
    Refund,
    RiskAssessment,
    utcnow,
)
from scheduler import (
    DailyReport,
    DayNotOver,
    SchedulerContext,
    acquire_lease,
    flag_overdue_refunds,
    lease_holder,
    new_holder_id,
    reconcile,
    release_lease,
    run_report,
    write_daily_report,
)
from scheduler.jobs import LeaseBusy, run_prices
from tests.harness.http_server import free_port
from tests.harness.stack import LiveStack
from workflows.ids import workflow_id_for
from workflows.starter import watch_handle

ROOT = Path(__file__).parents[1]
NEVER = {"calls": [{"answer": "no-answer"}]}
GRACE = timedelta(minutes=10)


async def _insert_refund(
    stack: LiveStack,
    merchant_id: str,
    *,
    deadline_in: timedelta,
    started_at: datetime | None = None,
    state: str = "open",
    amount_minor: int = 300_000,
    closed_at: datetime | None = None,
) -> str:
    """A tracked refund stored as intake stores it, without starting its watch."""
    refund_id = f"R-{uuid.uuid4().hex[:10]}"
    now = utcnow()
    async with stack.services.sessions() as session:
        session.add(
            Refund(
                refund_id=refund_id,
                merchant_id=merchant_id,
                order_id=f"O-{uuid.uuid4().hex[:8]}",
                amount_minor=amount_minor,
                currency="CNY",
                reason="not as described",
                requested_at=now - timedelta(hours=1),
                deadline_at=now + deadline_in,
                signals={"logistics": ["empty_package"]},
                payload_hash="0" * 64,
                intake={},
                tracked=True,
                workflow_id=workflow_id_for(refund_id),
                workflow_started_at=started_at,
                state=state,
                stage="received" if state == "open" else "closed",
                closed_at=closed_at,
                created_at=now,
            )
        )
        await session.flush()
        session.add(
            RiskAssessment(
                refund_id=refund_id,
                score=80,
                level="high",
                tracked=True,
                reasons=[{"code": "logistics", "points": 80, "text": "empty package"}],
                rules_version="test",
                created_at=now,
            )
        )
        await session.commit()
    return refund_id


async def _audit_kinds(stack: LiveStack, refund_id: str) -> list[str]:
    async with stack.services.sessions() as session:
        rows = await session.exec(select(AuditEvent.kind).where(AuditEvent.refund_id == refund_id))
        return list(rows.all())


async def _resolve(stack: LiveStack, refund_id: str) -> None:
    response = await stack.http.post(
        f"/v1/refunds/{refund_id}/resolution",
        headers=stack.platform(),
        json={"resolution": "approved", "event_id": f"ev-{refund_id}"},
    )
    assert response.status_code == 200, response.text
    assert await stack.outcome(refund_id) == "resolved"


async def test_reconciler_starts_a_missing_watch_once(stack: LiveStack) -> None:
    merchant_id, _ = await stack.merchant([NEVER])
    refund_id = await _insert_refund(stack, merchant_id, deadline_in=timedelta(seconds=60))

    # Two scheduler instances racing (no lease here: the pass itself must be idempotent).
    first, second = await asyncio.gather(
        reconcile(stack.services, overdue_grace=GRACE),
        reconcile(stack.services, overdue_grace=GRACE),
    )
    assert (first.started + second.started).count(refund_id) == 1
    assert refund_id not in first.failed + second.failed

    # The watch runs: it sends the in-app notice at intake and answers queries.
    await stack.wait_view(refund_id, lambda v: v["stage"] == "in_app_sent", timeout=20)
    description = await watch_handle(stack.client, refund_id).describe()
    assert description.status == WorkflowExecutionStatus.RUNNING
    async with stack.services.sessions() as session:
        row = await session.get(Refund, refund_id)
        assert row is not None
        started_at = row.workflow_started_at
    assert started_at is not None

    # A later pass (once the start has settled) finds it in Temporal and leaves it alone.
    later = await reconcile(
        stack.services, overdue_grace=GRACE, now=utcnow() + timedelta(minutes=1)
    )
    assert refund_id not in later.started + later.restarted
    async with stack.services.sessions() as session:
        row = await session.get(Refund, refund_id, populate_existing=True)
        assert row is not None
        assert row.workflow_started_at == started_at
    kinds = await _audit_kinds(stack, refund_id)
    assert kinds.count("workflow.started") == 1
    assert kinds.count("workflow.reconciled") == 1

    await _resolve(stack, refund_id)


async def test_reconciler_restarts_a_watch_temporal_does_not_know(stack: LiveStack) -> None:
    merchant_id, _ = await stack.merchant([NEVER])
    claimed = utcnow() - timedelta(minutes=10)
    refund_id = await _insert_refund(
        stack, merchant_id, deadline_in=timedelta(seconds=60), started_at=claimed
    )
    result = await reconcile(stack.services, overdue_grace=GRACE)
    assert refund_id in result.restarted

    await stack.wait_view(refund_id, lambda v: v["stage"] == "in_app_sent", timeout=20)
    async with stack.services.sessions() as session:
        row = await session.get(Refund, refund_id)
        assert row is not None
        assert row.workflow_started_at is not None
        assert row.workflow_started_at > claimed
        event = (
            await session.exec(
                select(AuditEvent).where(
                    AuditEvent.refund_id == refund_id, AuditEvent.kind == "workflow.reconciled"
                )
            )
        ).one()
    assert event.actor == "scheduler"
    assert event.detail == {
        "workflow_id": workflow_id_for(refund_id),
        "reason": "missing_in_temporal",
    }
    await _resolve(stack, refund_id)


async def test_overdue_refund_is_flagged_once_then_closed_by_its_watch(
    stack: LiveStack,
) -> None:
    """A refund two hours past its deadline, its watch lost: flagged once, however many
    instances look; the next pass restarts the watch, which times it out and books the loss."""
    merchant_id, _ = await stack.merchant([NEVER])
    refund_id = await _insert_refund(
        stack,
        merchant_id,
        deadline_in=-timedelta(hours=2),
        started_at=utcnow() - timedelta(hours=3),
        amount_minor=812_345,
    )
    before = REGISTRY.get_sample_value("refundwatch_reconciler_overdue_flagged_total") or 0.0

    async def flag() -> list[str]:
        async with stack.services.sessions() as session:
            return await flag_overdue_refunds(session, grace=GRACE)

    first, second = await asyncio.gather(flag(), flag())
    again = await flag()
    assert (first + second).count(refund_id) == 1
    assert refund_id not in again
    after = REGISTRY.get_sample_value("refundwatch_reconciler_overdue_flagged_total")
    assert after == before + 1
    async with stack.services.sessions() as session:
        events = (
            await session.exec(
                select(AuditEvent).where(
                    AuditEvent.refund_id == refund_id, AuditEvent.kind == "refund.overdue"
                )
            )
        ).all()
    assert len(events) == 1
    assert events[0].actor == "scheduler"
    assert events[0].detail["overdue_by_s"] >= 2 * 3600 - 5

    result = await reconcile(stack.services, overdue_grace=GRACE)
    assert refund_id in result.restarted
    assert refund_id not in result.overdue  # flagged already
    assert await stack.outcome(refund_id) == "timed_out"
    view = await stack.wait_view(refund_id, lambda v: v["state"] == "timed_out", timeout=15)
    assert view["loss"] == "8123.45"
    assert view["attempts"] == [], "nothing is sent for a deadline that has passed"


@pytest.fixture(params=["postgresql", "sqlite"])
async def lease_sessions(
    request: pytest.FixtureRequest, stack: LiveStack, tmp_path: Path
) -> AsyncIterator[SessionFactory]:
    if request.param == "postgresql":
        yield stack.services.sessions
        return
    url = f"sqlite+aiosqlite:///{tmp_path / 'leases.db'}"
    await asyncio.to_thread(upgrade, url)
    engine = make_engine(url)
    try:
        yield make_session_factory(engine)
    finally:
        await engine.dispose()


async def test_lease_has_one_holder_at_a_time(lease_sessions: SessionFactory) -> None:
    name = f"test-{uuid.uuid4().hex[:8]}"
    ttl = timedelta(seconds=60)
    t0 = utcnow()
    holders = [new_holder_id() for _ in range(5)]

    async def take(holder: str, at: datetime) -> bool:
        async with lease_sessions() as session:
            return await acquire_lease(session, name, holder, ttl, now=at)

    won = await asyncio.gather(*(take(holder, t0) for holder in holders))
    assert sum(won) == 1
    winner = holders[won.index(True)]
    other = next(holder for holder in holders if holder != winner)

    assert await take(winner, t0 + timedelta(seconds=30))  # renewing
    assert not await take(other, t0 + timedelta(seconds=60))  # renewed at +30 s: still valid
    async with lease_sessions() as session:
        current = await lease_holder(session, name, now=t0 + timedelta(seconds=60))
    assert current is not None
    assert current.holder == winner

    # The holder crashed (stopped renewing): once expired, another instance takes over.
    assert await take(other, t0 + timedelta(seconds=91))
    assert not await take(winner, t0 + timedelta(seconds=92))

    async with lease_sessions() as session:
        assert not await release_lease(session, name, winner)  # not its lease any more
        assert await release_lease(session, name, other)
    assert await take(winner, t0 + timedelta(seconds=93))  # released: free at once


async def _report_rows(stack: LiveStack, day: date) -> int:
    async with stack.services.sessions() as session:
        count = await session.exec(
            select(func.count()).select_from(LossReport).where(LossReport.day == day.isoformat())
        )
        return int(count.one())


async def test_daily_report_is_written_once_with_the_days_figures(stack: LiveStack) -> None:
    day = date(2021, 3, 14)
    noon = datetime(2021, 3, 14, 12, tzinfo=UTC)
    merchant_id, _ = await stack.merchant([NEVER])
    await _insert_refund(
        stack,
        merchant_id,
        deadline_in=timedelta(hours=1),
        started_at=noon,
        state="resolved",
        amount_minor=123_456,
        closed_at=noon,
    )
    lost_id = await _insert_refund(
        stack,
        merchant_id,
        deadline_in=timedelta(hours=1),
        started_at=noon,
        state="timed_out",
        amount_minor=50_000,
        closed_at=noon,
    )
    async with stack.services.sessions() as session:
        session.add(
            LossEntry(
                refund_id=lost_id,
                merchant_id=merchant_id,
                amount_minor=50_000,
                currency="CNY",
                reason="timed_out",
                last_channel="call",
                recorded_at=noon,
            )
        )
        await session.commit()
    ctx = SchedulerContext(stack.settings, stack.services.sessions, new_holder_id())

    report = await run_report(ctx, day)
    assert isinstance(report, DailyReport)
    assert report.created
    totals = report.summary["totals"]
    assert totals["saved"] == {"CNY": "1234.56"}
    assert totals["saved_count"] == 1
    assert totals["lost"] == {"CNY": "500.00"}
    assert totals["lost_count"] == 1
    assert report.summary["since"].startswith("2021-03-14T00:00:00")
    assert report.summary["until"].startswith("2021-03-15T00:00:00")
    by_channel = {row["channel"]: row for row in report.summary["by_channel"]}
    assert by_channel["call"]["lost"] == {"CNY": "500.00"}
    # Other tests' merchants may have refunds open right now; the day's money is this one's.
    with_money = [m for m in report.summary["by_merchant"] if m["saved"] or m["lost"]]
    assert [m["merchant_id"] for m in with_money] == [merchant_id]

    again = await run_report(ctx, day)
    assert isinstance(again, DailyReport)
    assert not again.created
    assert again.summary == report.summary
    assert await _report_rows(stack, day) == 1

    # Two instances at once, no lease: still one row.
    other_day = date(2021, 3, 13)

    async def write() -> DailyReport:
        async with stack.services.sessions() as session:
            return await write_daily_report(session, other_day)

    both = await asyncio.gather(write(), write())
    assert sorted(r.created for r in both) == [False, True]
    assert both[0].summary == both[1].summary
    assert await _report_rows(stack, other_day) == 1

    with pytest.raises(DayNotOver):
        async with stack.services.sessions() as session:
            await write_daily_report(session, utcnow().date())


# ----------------------------------------------------------------------------- the command
def _environment(settings: Settings, temporal_env: WorkflowEnvironment) -> dict[str, str]:
    """The process environment an operator would set for these settings."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("REFUNDWATCH_", "TWILIO_"))}
    env.update(
        {
            "DATABASE_URL": settings.database_url,
            "TEMPORAL_ADDRESS": temporal_env.client.service_client.config.target_host,
            "TEMPORAL_NAMESPACE": settings.temporal_namespace,
            "TEMPORAL_TASK_QUEUE": settings.temporal_task_queue,
            "TWILIO_ACCOUNT_SID": settings.twilio_account_sid,
            "TWILIO_AUTH_TOKEN": settings.twilio_auth_token.get_secret_value(),
            "TWILIO_FROM_NUMBER": settings.twilio_from_number,
            "TWILIO_API_BASE_URL": settings.twilio_api_base_url or "",
            "PUBLIC_BASE_URL": settings.public_base_url,
            "REFUNDWATCH_POLICY": str(settings.policy_path),
            "REFUNDWATCH_PLATFORM_TOKENS": ",".join(
                t.get_secret_value() for t in settings.platform_tokens
            ),
            "REFUNDWATCH_SUPPORT_TOKENS": ",".join(
                t.get_secret_value() for t in settings.support_tokens
            ),
            "REFUNDWATCH_MERCHANT_TOKEN_SECRET": settings.merchant_token_secret.get_secret_value(),
            "REFUNDWATCH_LOG_FORMAT": "json",
        }
    )
    return env


async def _refundwatch(env: dict[str, str], *args: str) -> asyncio.subprocess.Process:
    # `python -m cli.main` from the repository: the same entry point as `refundwatch`.
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "cli.main",
        *args,
        cwd=ROOT,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )


async def test_run_once_report_prints_the_report_and_refuses_an_unfinished_day(
    stack: LiveStack, temporal_env: WorkflowEnvironment
) -> None:
    env = _environment(stack.settings, temporal_env)
    process = await _refundwatch(env, "scheduler", "--run-once", "report", "--day", "2021-03-16")
    out, err = await asyncio.wait_for(process.communicate(), 30)
    assert process.returncode == 0, err.decode()
    printed = json.loads(out)
    assert printed["day"] == "2021-03-16"
    assert printed["created"] is True
    assert set(printed["summary"]["totals"]) >= {"saved", "lost", "open"}
    assert await _report_rows(stack, date(2021, 3, 16)) == 1

    today = utcnow().date().isoformat()
    process = await _refundwatch(env, "scheduler", "--run-once", "report", "--day", today)
    out, err = await asyncio.wait_for(process.communicate(), 30)
    assert process.returncode == 2
    assert "is not over yet" in err.decode()
    assert "Traceback" not in err.decode()


async def test_scheduler_runs_its_jobs_and_stops_gracefully_on_sigterm(
    stack: LiveStack, temporal_env: WorkflowEnvironment
) -> None:
    port = free_port()
    env = _environment(stack.settings, temporal_env)
    env.update(
        {
            "REFUNDWATCH_METRICS_PORT": str(port),
            "REFUNDWATCH_METRICS_HOST": "127.0.0.1",
            "REFUNDWATCH_RECONCILE_EVERY": "5",
        }
    )
    merchant_id, _ = await stack.merchant([NEVER])
    refund_id = await _insert_refund(stack, merchant_id, deadline_in=timedelta(seconds=60))
    process = await _refundwatch(env, "scheduler")
    try:
        # The scheduler process starts the watch that intake left unstarted.
        await stack.wait_view(refund_id, lambda v: v["stage"] == "in_app_sent", timeout=30)
        runs = ("refundwatch_scheduler_runs_total", (("job", "reconcile"), ("result", "ok")))
        # The watch starts in the middle of the pass; the pass is counted when it ends.
        samples: dict[tuple[str, tuple[tuple[str, str], ...]], float] = {}
        async with httpx.AsyncClient(timeout=5) as http:
            for _ in range(50):
                exposition = (await http.get(f"http://127.0.0.1:{port}/metrics")).text
                samples = {
                    (sample.name, tuple(sorted(sample.labels.items()))): sample.value
                    for family in text_string_to_metric_families(exposition)
                    for sample in family.samples
                }
                if runs in samples:
                    break
                await asyncio.sleep(0.2)
        assert samples[runs] >= 1
        started = ("refundwatch_reconciler_watches_started_total", (("reason", "never_started"),))
        assert samples[started] >= 1
    finally:
        if process.returncode is None:
            process.send_signal(signal.SIGTERM)
        _, err = await asyncio.wait_for(process.communicate(), 30)
    log = err.decode()
    assert process.returncode == 0, log
    events = [json.loads(line)["event"] for line in log.splitlines() if line.startswith("{")]
    assert events.index("scheduler_started") < events.index("scheduler_stopped")
    assert "watch_reconciled" in events
    async with stack.services.sessions() as session:
        held = (
            await session.exec(
                select(func.count())
                .select_from(AuditEvent)
                .where(
                    AuditEvent.refund_id == refund_id, col(AuditEvent.kind) == "workflow.started"
                )
            )
        ).one()
        assert held == 1
        for job in ("reconcile", "report"):
            lease = await lease_holder(session, job)
            assert lease is None, f"{job} lease still held after a graceful stop"
    await _resolve(stack, refund_id)


async def test_prices_of_finished_sends_are_fetched_from_the_provider(stack: LiveStack) -> None:
    merchant_id, _ = await stack.merchant([{"calls": [{"answer": "no-answer"}]}])
    body = stack.refund_body(merchant_id, deadline_in=17)
    assert (await stack.intake(body)).status_code == 201
    refund_id = body["refund_id"]
    view = await stack.wait_view(
        refund_id,
        lambda v: any(a["channel"] == "sms" and a["status"] == "delivered" for a in v["attempts"]),
    )
    sms = next(a for a in view["attempts"] if a["channel"] == "sms")
    assert sms["price"] is None, "no callback carries the price"
    ctx = SchedulerContext(stack.settings, stack.services.sessions, "test-prices")
    async with stack.services.sessions() as session:
        attempt = (
            await session.exec(
                select(NotificationAttempt).where(
                    NotificationAttempt.provider_sid == sms["provider_sid"]
                )
            )
        ).one()
        attempt.updated_at = attempt.updated_at - timedelta(minutes=1)  # settled
        session.add(attempt)
        await session.commit()
    # Twilio prices a message some time after it was sent: ask until it has.
    total_priced = 0
    for _ in range(20):
        result = await run_prices(ctx)
        assert not isinstance(result, LeaseBusy)
        total_priced += result.priced
        priced = next(a for a in (await stack.view(refund_id))["attempts"] if a["channel"] == "sms")
        if priced["price"] is not None:
            break
        await asyncio.sleep(0.3)
    assert total_priced >= 1
    assert Decimal(priced["price"]) > 0, "stored as a positive cost"
    again = await run_prices(ctx)
    assert not isinstance(again, LeaseBusy)
    await stack.http.post(
        f"/v1/refunds/{refund_id}/resolution",
        headers=stack.platform(),
        json={"resolution": "cancelled", "event_id": f"ev-{refund_id}"},
    )
