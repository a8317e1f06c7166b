"""Benchmark 1 — intake throughput: refunds/s through POST /v1/refunds until the watch's
workflow is started, in the same run on the same dev server as

- a bare ``client.start_workflow`` of the SAME RefundWatchWorkflow with the input intake builds
  (rows written beforehand, untimed), so the watch's own start-up work is on both sides —
  target intake ≥ 0.8× this;
- a bare start of an empty workflow, for context — target ≥ 0.5×;
- POST /v1/refunds/batch (100 per request), the bulk path.

    .venv/bin/python -m bench.intake_throughput --quick      # 400 per round
    .venv/bin/python -m bench.intake_throughput              # 2,000 per round
    .venv/bin/python -m bench.intake_throughput --api-processes 2

Rounds alternate (empty, same workflow, intake, batch, …) so all see the same machine; each
round's rate is count / wall time from the first request to the last answer, at the same
concurrency. Every intake is a tracked refund (its 201 carries the workflow id); the production
policy is used, so each watch also runs its first in-app step right after it starts, as in
production. Each round drains before the next (every watch of it has written its in-app
notice), and its CPU per process is counted over the round and its drain.
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
from bench.bursts import notices
from bench.report import console, save, summary, table
from bench.stack import BARE_TASK_QUEUE, BenchStack, bench_stack, create_merchants
from bench.watches import insert_watches, start_watches
from config.settings import DEFAULT_POLICY
from demo.payloads import refund_body

MERCHANTS = 50
PATHS = {
    "empty": "bare start, empty workflow",
    "same": "bare start, same RefundWatchWorkflow",
    "intake": "POST /v1/refunds → started",
    "batch": "POST /v1/refunds/batch (100/request)",
}


def _cpu_seconds(stack: BenchStack) -> dict[str, float]:
    """CPU time used so far by each child, by the PostgreSQL backends serving this run's own
    scratch database (named in their process title; other databases on the server are other
    people's), and by this load generator."""
    import psutil

    used: dict[str, float] = {}
    for name, process in stack.children.processes.items():
        times = psutil.Process(process.pid).cpu_times()
        used[name] = float(times.user + times.system)
    database = stack.database_url.rsplit("/", 1)[-1]
    postgres = 0.0
    for proc in psutil.process_iter(["name", "cmdline"]):
        title = " ".join(proc.info["cmdline"] or [])
        if proc.info["name"] == "postgres" and f" {database} " in f"{title} ":
            try:
                times = proc.cpu_times()
            except psutil.Error:
                continue
            postgres += float(times.user + times.system)
    used["postgres (this run's backends)"] = postgres
    mine = psutil.Process().cpu_times()
    used["load generator"] = float(mine.user + mine.system)
    return used


async def with_cpu(stack: BenchStack, round_: Awaitable[dict[str, Any]]) -> dict[str, Any]:
    before = _cpu_seconds(stack)
    result = await round_
    after = _cpu_seconds(stack)
    per_1000 = 1000 / result["count"]
    result["cpu_ms_per_workflow"] = {
        name: round((after[name] - before.get(name, 0.0)) * per_1000, 2) for name in after
    }
    return result


async def timed(
    count: int, concurrency: int, one: Callable[[int], Awaitable[None]]
) -> dict[str, Any]:
    latencies: list[float] = []
    gate = asyncio.Semaphore(concurrency)

    async def one_timed(i: int) -> None:
        async with gate:
            started = time.perf_counter()
            await one(i)
            latencies.append(time.perf_counter() - started)

    started = time.perf_counter()
    await asyncio.gather(*(one_timed(i) for i in range(count)))
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

    return await timed(count, concurrency, one)


async def same_workflow_round(stack: BenchStack, count: int, concurrency: int) -> dict[str, Any]:
    """Bare starts of RefundWatchWorkflow with intake's input; the rows exist beforehand."""
    prefix = f"same{uuid.uuid4().hex[:6]}"
    deadlines = [datetime.now(UTC) + timedelta(hours=48)] * count
    ids = await insert_watches(stack, prefix, deadlines)
    started = time.perf_counter()
    await start_watches(stack, ids, deadlines, DEFAULT_POLICY, concurrency=concurrency,
                        as_intake=True)  # fmt: skip
    elapsed = time.perf_counter() - started
    return {"count": count, "seconds": elapsed, "rate": count / elapsed, "prefix": prefix}


async def batch_round(
    stack: BenchStack, http: httpx.AsyncClient, merchants: list[str], count: int, size: int = 100
) -> dict[str, Any]:
    run = uuid.uuid4().hex[:6]
    now = datetime.now(UTC)

    async def one(chunk: int) -> None:
        bodies = [
            refund_body(
                merchants[i % len(merchants)],
                refund_id=f"R-{run}-{i}",
                order_id=f"O-{run}-{i}",
                deadline_in=timedelta(hours=48),
                now=now,
            )
            for i in range(chunk * size, min(count, (chunk + 1) * size))
        ]
        response = await http.post(f"{stack.next_api()}/v1/refunds/batch", json={"refunds": bodies})
        counts = response.json().get("counts", {}) if response.status_code == 200 else {}
        if counts.get("201") != len(bodies):
            raise RuntimeError(f"batch failed: {response.status_code} {response.text[:300]}")

    result = await timed(-(-count // size), 2, one)
    result.update(count=count, rate=count / result["seconds"], prefix=run)
    return result


async def _drain(stack: BenchStack, prefix: str, count: int, timeout_s: float = 120) -> float:
    """Wait until every watch of a round ran its start-up work (its in-app notice)."""
    loop = asyncio.get_running_loop()
    started = loop.time()
    while loop.time() - started < timeout_s:
        if len(await notices(stack, prefix)) >= count:
            break
        await asyncio.sleep(0.5)
    return loop.time() - started


async def _round(
    stack: BenchStack, round_: Callable[[], Awaitable[dict[str, Any]]]
) -> dict[str, Any]:
    async def timed_and_drained() -> dict[str, Any]:
        result = await round_()
        if "prefix" in result:
            result["drain_s"] = await _drain(stack, result["prefix"], result["count"])
            # Until every watch also ran its start-up work: what the whole system sustains.
            result["sustained_rate"] = result["count"] / (result["seconds"] + result["drain_s"])
        else:
            await asyncio.sleep(2)  # the empty workflow completes at its first task
        return result

    return await with_cpu(stack, timed_and_drained())


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

    result = await timed(count, concurrency, one)
    result["prefix"] = run
    return result


async def run(count: int, concurrency: int, rounds: int, api_processes: int) -> None:
    # The API's database pool holds a connection per concurrent request (below that, one is
    # opened and closed per request: ~1 ms of API CPU each, measured on 2026-12-02).
    tuning = {"REFUNDWATCH_DB_POOL_SIZE": str(concurrency)}
    async with bench_stack(
        policy=DEFAULT_POLICY, api_processes=api_processes, bare_worker=True, env_overrides=tuning
    ) as stack:
        merchants = await create_merchants(stack, MERCHANTS)
        limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
        async with httpx.AsyncClient(headers=stack.platform(), timeout=120, limits=limits) as http:
            console.print("warming up …")
            await bare_round(stack, 50, concurrency)
            await _round(stack, lambda: intake_round(stack, http, merchants, 50, concurrency))
            paths: dict[str, list[dict[str, Any]]] = {name: [] for name in PATHS}
            for number in range(1, rounds + 1):
                for name, round_ in (
                    ("empty", lambda: bare_round(stack, count, concurrency)),
                    ("same", lambda: same_workflow_round(stack, count, concurrency)),
                    ("intake", lambda: intake_round(stack, http, merchants, count, concurrency)),
                    ("batch", lambda: batch_round(stack, http, merchants, count)),
                ):
                    paths[name].append(await _round(stack, round_))
                console.print(
                    f"round {number}: "
                    + ", ".join(f"{n} {paths[n][-1]['rate']:.0f}/s" for n in PATHS)
                )
    rate = {name: sum(r["rate"] for r in runs) / len(runs) for name, runs in paths.items()}
    sustained = {
        name: sum(r["sustained_rate"] for r in runs) / len(runs)
        for name, runs in paths.items()
        if all("sustained_rate" in r for r in runs)
    }
    vs_same, vs_empty = rate["intake"] / rate["same"], rate["intake"] / rate["empty"]
    rows = [
        [PATHS[name], rate[name], f"{rate[name] / rate['same']:.2f}×",
         f"{rate[name] / rate['empty']:.2f}×"]
        for name in PATHS
    ]  # fmt: skip
    last = {name: runs[-1]["cpu_ms_per_workflow"] for name, runs in paths.items()}
    table(
        "CPU milliseconds per workflow started, over the round and its drain (last round; "
        f"the machine has {os.cpu_count()} cores)",
        ["process", *PATHS],
        [[proc, *(last[n].get(proc, 0.0) for n in PATHS)] for proc in last["intake"]],
    )
    table(
        f"intake throughput ({count} per round × {rounds} rounds, concurrency {concurrency}, "
        f"{api_processes} API process(es)) — targets: intake ≥ 0.80× same workflow, "
        "≥ 0.50× empty; API CPU ≤ 4 ms per intake",
        ["path", "per second", "vs same workflow", "vs empty workflow"],
        rows,
    )
    table(
        "the same rounds, timed until every watch also ran its start-up work (its in-app "
        "notice): what the system sustains, the worker's share included on both sides",
        ["path", "per second", "vs same workflow"],
        [[PATHS[n], v, f"{v / sustained['same']:.2f}×"] for n, v in sustained.items()],
    )

    def draw(axes: Any) -> None:
        axes.bar(list(PATHS.values()), [rate[n] for n in PATHS],
                 color=["#888888", "#555555", "#2b7bba", "#7fb3d5"])  # fmt: skip
        axes.axhline(0.8 * rate["same"], color="#c0392b", linestyle="--",
                     label="target 0.8× same workflow")  # fmt: skip
        axes.set_ylabel("workflows started per second")
        axes.set_title(f"Intake: {vs_same:.2f}× the same workflow, {vs_empty:.2f}× empty")
        axes.tick_params(axis="x", labelsize=7)
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
            "rounds": paths,
            "rate": rate,
            "sustained_rate": sustained,
            "tuning": tuning,
            "ratio_vs_same_workflow": vs_same,
            "ratio_vs_empty_workflow": vs_empty,
            "api_cpu_ms_per_intake": last["intake"].get("api0"),
            "api_cpu_ms_per_batch_item": last["batch"].get("api0"),
            "targets": {"vs_same": 0.8, "vs_empty": 0.5, "api_cpu_ms": 4.0},
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
