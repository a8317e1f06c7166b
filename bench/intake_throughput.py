"""Benchmark 1 — intake throughput: refunds/s through POST /v1/refunds until the watch's
workflow is started, vs bare ``client.start_workflow`` of an empty workflow on the same dev
server in the same run. Target: intake ≥ 0.8× bare.

    .venv/bin/python -m bench.intake_throughput --quick      # 400 per round
    .venv/bin/python -m bench.intake_throughput              # 2,000 per round
    .venv/bin/python -m bench.intake_throughput --api-processes 2

Rounds alternate (bare, intake, bare, intake, …) so both see the same machine; each round's
rate is count / wall time from the first request to the last answer, at the same concurrency.
Every intake is a tracked refund (its 201 carries the workflow id); the production policy is
used, so each watch also runs its first in-app step right after it starts, as in production.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from bench.bare_workflow import BareWorkflow
from bench.report import console, save, summary, table
from bench.stack import BARE_TASK_QUEUE, BenchStack, bench_stack, create_merchants
from config.settings import DEFAULT_POLICY
from demo.payloads import refund_body

MERCHANTS = 50


def _cpu_seconds(stack: BenchStack) -> dict[str, float]:
    """CPU time used so far by each child (and by PostgreSQL), to see where a round's time goes."""
    import psutil

    used: dict[str, float] = {}
    for name, process in stack.children.processes.items():
        times = psutil.Process(process.pid).cpu_times()
        used[name] = float(times.user + times.system)
    postgres = 0.0
    for proc in psutil.process_iter(["name"]):
        if proc.info["name"] == "postgres":
            try:
                times = proc.cpu_times()
            except psutil.Error:
                continue
            postgres += float(times.user + times.system)
    used["postgres"] = postgres
    mine = psutil.Process().cpu_times()
    used["load generator"] = float(mine.user + mine.system)
    return used


async def _with_cpu(stack: BenchStack, round_: Awaitable[dict[str, Any]]) -> dict[str, Any]:
    before = _cpu_seconds(stack)
    result = await round_
    after = _cpu_seconds(stack)
    per_1000 = 1000 / result["count"]
    result["cpu_ms_per_workflow"] = {
        name: round((after[name] - before.get(name, 0.0)) * per_1000, 2) for name in after
    }
    return result


async def _timed(
    count: int, concurrency: int, one: Callable[[int], Awaitable[None]]
) -> dict[str, Any]:
    latencies: list[float] = []
    gate = asyncio.Semaphore(concurrency)

    async def timed(i: int) -> None:
        async with gate:
            started = time.perf_counter()
            await one(i)
            latencies.append(time.perf_counter() - started)

    started = time.perf_counter()
    await asyncio.gather(*(timed(i) for i in range(count)))
    elapsed = time.perf_counter() - started
    return {
        "count": count,
        "seconds": elapsed,
        "rate": count / elapsed,
        "latency": summary(latencies),
    }


async def bare_round(stack: BenchStack, count: int, concurrency: int) -> dict[str, Any]:
    run = uuid.uuid4().hex[:6]

    async def one(i: int) -> None:
        await stack.temporal.start_workflow(
            BareWorkflow.run, False, id=f"bare-{run}-{i}", task_queue=BARE_TASK_QUEUE
        )

    return await _timed(count, concurrency, one)


async def intake_round(
    stack: BenchStack, http: httpx.AsyncClient, merchants: list[str], count: int, concurrency: int
) -> dict[str, Any]:
    run = uuid.uuid4().hex[:6]
    now = datetime.now(UTC)

    async def one(i: int) -> None:
        body = refund_body(
            merchants[i % len(merchants)],
            refund_id=f"R-{run}-{i}",
            order_id=f"O-{run}-{i}",
            deadline_in=timedelta(hours=48),
            now=now,
        )
        response = await http.post(f"{stack.next_api()}/v1/refunds", json=body)
        if response.status_code != 201 or response.json()["workflow_id"] is None:
            raise RuntimeError(f"intake failed: {response.status_code} {response.text[:200]}")

    return await _timed(count, concurrency, one)


async def run(count: int, concurrency: int, rounds: int, api_processes: int) -> None:
    async with bench_stack(
        policy=DEFAULT_POLICY, api_processes=api_processes, bare_worker=True
    ) as stack:
        merchants = await create_merchants(stack, MERCHANTS)
        limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
        async with httpx.AsyncClient(headers=stack.platform(), timeout=120, limits=limits) as http:
            console.print("warming up …")
            await bare_round(stack, 50, concurrency)
            await intake_round(stack, http, merchants, 50, concurrency)
            bare: list[dict[str, Any]] = []
            intake: list[dict[str, Any]] = []
            for number in range(1, rounds + 1):
                bare.append(await _with_cpu(stack, bare_round(stack, count, concurrency)))
                intake.append(
                    await _with_cpu(stack, intake_round(stack, http, merchants, count, concurrency))
                )
                console.print(
                    f"round {number}: bare {bare[-1]['rate']:.0f}/s, "
                    f"intake {intake[-1]['rate']:.0f}/s"
                )
    bare_rate = sum(r["rate"] for r in bare) / len(bare)
    intake_rate = sum(r["rate"] for r in intake) / len(intake)
    ratio = intake_rate / bare_rate
    rows = [
        ["bare start_workflow", bare_rate, bare[-1]["latency"]["p50"] * 1000,
         bare[-1]["latency"]["p99"] * 1000, "1.00×"],
        ["POST /v1/refunds → started", intake_rate, intake[-1]["latency"]["p50"] * 1000,
         intake[-1]["latency"]["p99"] * 1000, f"{ratio:.2f}×"],
    ]  # fmt: skip
    table(
        "CPU milliseconds per workflow started (last round; the machine has "
        f"{os.cpu_count()} cores)",
        ["process", "bare", "intake"],
        [
            [name, bare[-1]["cpu_ms_per_workflow"].get(name, 0.0), ms]
            for name, ms in intake[-1]["cpu_ms_per_workflow"].items()
        ],
    )
    table(
        f"intake throughput ({count} per round × {rounds} rounds, concurrency {concurrency}, "
        f"{api_processes} API process(es)) — target ≥ 0.80×",
        ["path", "per second", "p50 ms", "p99 ms", "vs bare"],
        rows,
    )

    def draw(axes: Any) -> None:
        axes.bar(["bare start_workflow", "POST /v1/refunds"], [bare_rate, intake_rate],
                 color=["#888888", "#2b7bba"])  # fmt: skip
        axes.axhline(0.8 * bare_rate, color="#c0392b", linestyle="--", label="target 0.8× bare")
        axes.set_ylabel("workflows started per second")
        axes.set_title(f"Intake throughput: {ratio:.2f}× bare")
        axes.legend()

    save(
        "intake_throughput",
        {
            "parameters": {
                "count": count,
                "concurrency": concurrency,
                "rounds": rounds,
                "api_processes": api_processes,
                "policy": str(DEFAULT_POLICY),
            },
            "bare": bare,
            "intake": intake,
            "bare_rate": bare_rate,
            "intake_rate": intake_rate,
            "ratio": ratio,
            "target_ratio": 0.8,
        },
        draw,
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        prog="python -m bench.intake_throughput",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--quick", action="store_true", help="400 per round instead of 2,000")
    parser.add_argument("--count", type=int, help="requests per round")
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--api-processes", type=int, default=1)
    args = parser.parse_args()
    count = args.count or (400 if args.quick else 2000)
    asyncio.run(run(count, args.concurrency, args.rounds, args.api_processes))


if __name__ == "__main__":
    main()
