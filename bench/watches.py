"""Many watches, fast: refund rows written in bulk, then their workflows started directly.

For the scale benchmarks (timers, memory) the intake path is not what is measured, so the
rows an intake would write (merchant, refund, risk assessment) are inserted in batches and each
watch is started with the same helper the API uses (workflows.starter.start_watch).
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import func, insert, select

from application.watches import quiet_windows_for
from bench.stack import TASK_QUEUE, BenchStack
from config.policy_file import load_policy
from db.models import AuditEvent, Merchant, Refund, RiskAssessment, utcnow
from workflows.inputs import RefundWatchInput
from workflows.starter import start_watch

__all__ = ["insert_watches", "planned_count", "start_watches"]

_BATCH = 2000
MERCHANT = "m-bench-scale"


async def insert_watches(
    stack: BenchStack,
    prefix: str,
    deadlines: Sequence[datetime],
    merchants: Sequence[str] = (MERCHANT,),
) -> list[str]:
    """Refund rows (tracked, open, risk 'high') with these deadlines, of ``merchants`` in turn
    (the default one is created here; others must exist); returns their ids."""
    now = datetime.now(UTC)
    async with stack.sessions() as session:
        if await session.get(Merchant, MERCHANT) is None:
            session.add(
                Merchant(
                    merchant_id=MERCHANT,
                    name="Bench Scale",
                    timezone="Asia/Shanghai",
                    language="en",
                    created_at=now,
                    updated_at=now,
                )
            )
            await session.commit()
    ids = [f"R-{prefix}-{i:06d}" for i in range(len(deadlines))]
    for start in range(0, len(ids), _BATCH):
        chunk = list(
            zip(ids[start : start + _BATCH], deadlines[start : start + _BATCH], strict=True)
        )
        refunds: list[dict[str, Any]] = [
            {
                "refund_id": refund_id,
                "merchant_id": merchants[(start + n) % len(merchants)],
                "order_id": f"O-{refund_id}",
                "amount_minor": 300000,
                "currency": "CNY",
                "reason": "bench",
                "requested_at": now - timedelta(hours=1),
                "deadline_at": deadline,
                "signals": {},
                "payload_hash": hashlib.sha256(refund_id.encode()).hexdigest(),
                "intake": {},
                "tracked": True,
                "workflow_id": f"refund-{refund_id}",
                "workflow_started_at": now,
                "state": "open",
                "stage": "received",
                "created_at": now,
            }
            for n, (refund_id, deadline) in enumerate(chunk)
        ]
        risks: list[dict[str, Any]] = [
            {
                "refund_id": refund_id,
                "score": 75,
                "level": "high",
                "tracked": True,
                "reasons": [],
                "rules_version": "bench",
                "created_at": now,
            }
            for refund_id, _ in chunk
        ]
        async with stack.sessions() as session:
            await session.execute(insert(Refund), refunds)
            await session.execute(insert(RiskAssessment), risks)
            await session.commit()
    return ids


async def start_watches(
    stack: BenchStack,
    refund_ids: Sequence[str],
    deadlines: Sequence[datetime],
    policy_path: Path,
    *,
    concurrency: int = 48,
    progress: Callable[[int], None] | None = None,
    as_intake: bool = False,
    merchants: Sequence[str] = (MERCHANT,),
) -> float:
    """Start one watch per refund; returns the starts per second achieved. ``as_intake``: with
    the input intake builds for such a refund (the merchant's quiet windows, abnormal), so a
    bare start costs what the API's start costs."""
    policy = load_policy(policy_path)
    merchant = None
    if as_intake:
        async with stack.sessions() as session:
            merchant = await session.get(Merchant, MERCHANT)
    gate = asyncio.Semaphore(concurrency)
    done = 0

    async def one(n: int, refund_id: str, deadline: datetime) -> None:
        nonlocal done
        async with gate:
            await start_watch(
                stack.temporal,
                TASK_QUEUE,
                RefundWatchInput(
                    refund_id=refund_id,
                    merchant_id=merchants[n % len(merchants)],
                    amount_minor=300000,
                    currency="CNY",
                    deadline=deadline,
                    risk_score=75,
                    risk_level="high",
                    policy=policy,
                    quiet_windows=quiet_windows_for(merchant, policy, utcnow(), deadline)
                    if merchant is not None
                    else [],
                    abnormal=merchant is not None,
                ),
            )
            done += 1
            if progress is not None and done % 1000 == 0:
                progress(done)

    started = asyncio.get_running_loop().time()
    pairs = enumerate(zip(refund_ids, deadlines, strict=True))
    await asyncio.gather(*(one(n, r, d) for n, (r, d) in pairs))
    return len(refund_ids) / (asyncio.get_running_loop().time() - started)


async def planned_count(stack: BenchStack) -> int:
    """Watches whose first workflow task has run (each records its ladder.planned event)."""
    async with stack.sessions() as session:
        statement = select(func.count()).where(AuditEvent.kind == "ladder.planned")  # type: ignore[arg-type]
        result = await session.execute(statement)
        return int(result.scalar_one())
