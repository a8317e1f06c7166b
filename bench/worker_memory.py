"""Benchmark 4 — worker memory at scale: RSS of refundwatch's worker process (`refundwatch
worker`, as deployed) with 10,000 / 50,000 / 100,000 open, sleeping watches. Target: flat, and
≤ 1 GiB.

    .venv/bin/python -m bench.worker_memory --quick                 # 1,000 and 5,000
    .venv/bin/python -m bench.worker_memory                         # 10k, 50k, 100k (long)
    .venv/bin/python -m bench.worker_memory --sizes 10000,50000

Watches are added in steps up to each size (bench/watches.py) on the dev server's SQLite file
database (WAL, synchronous=normal); each first runs its workflow task and records its planned
ladder, then sleeps (its only step is a day away). Once every watch has planned, the worker's
RSS is sampled for 10 s; the table and files are written after each size, so a long run that is
stopped keeps what it measured (``complete`` says whether every size was reached). The worker
keeps the SDK's default sticky cache (1,000 workflows), so memory should follow the cache, not
the number of watches. The dev server's RSS is shown too.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psutil

from bench.report import console, save, table
from bench.stack import BenchStack, bench_stack
from bench.watches import insert_watches, planned_count, start_watches

POLICY = Path(__file__).resolve().parent / "policies" / "sleeping.yaml"
MIB = 1024 * 1024


def _rss_mib(pid: int) -> float:
    process = psutil.Process(pid)
    total: int = process.memory_info().rss
    for child in process.children(recursive=True):
        total += int(child.memory_info().rss)
    return total / MIB


async def _settle(stack: BenchStack, size: int, timeout_s: float) -> float:
    """Wait until every watch has run its first task; seconds it took."""
    loop = asyncio.get_running_loop()
    started = loop.time()
    while await planned_count(stack) < size:
        if loop.time() - started > timeout_s:
            raise RuntimeError(f"only {await planned_count(stack)} of {size} watches planned")
        await asyncio.sleep(2)
    return loop.time() - started


async def run(sizes: list[int]) -> None:
    rows: list[dict[str, Any]] = []
    async with bench_stack(policy=POLICY) as stack:
        worker, server = stack.pid("worker"), stack.pid("temporal")
        idle = _rss_mib(worker)
        console.print(f"worker RSS with no watches: {idle:.0f} MiB")
        open_watches = 0
        for size in sizes:
            count = size - open_watches
            deadline = datetime.now(UTC) + timedelta(days=2)
            ids = await insert_watches(stack, f"mem{size}", [deadline] * count)
            rate = await start_watches(
                stack,
                ids,
                [deadline] * count,
                POLICY,
                progress=lambda n: console.print(f"  +{n} started"),
            )
            open_watches = size
            settle_s = await _settle(stack, size, timeout_s=600 + size / 20)
            await asyncio.sleep(5)
            samples = []
            for _ in range(10):
                samples.append(_rss_mib(worker))
                await asyncio.sleep(1)
            row = {
                "watches": size,
                "worker_rss_mib_median": statistics.median(samples),
                "worker_rss_mib_max": max(samples),
                "server_rss_mib": _rss_mib(server),
                "start_rate_per_s": rate,
                "settle_s": settle_s,
            }
            rows.append(row)
            report(rows, idle, complete=size == sizes[-1])  # kept even if a later size is cut
            console.print(
                f"{size} watches: worker {row['worker_rss_mib_median']:.0f} MiB, "
                f"dev server {row['server_rss_mib']:.0f} MiB"
            )


def report(rows: list[dict[str, Any]], idle: float, *, complete: bool) -> None:
    """Print the table and save JSON + PNG for the sizes measured so far."""
    table(
        "worker memory with sleeping watches — target flat and ≤ 1024 MiB",
        ["open watches", "worker RSS MiB (median)", "max", "dev server RSS MiB", "starts/s"],
        [
            [r["watches"], r["worker_rss_mib_median"], r["worker_rss_mib_max"],
             r["server_rss_mib"], r["start_rate_per_s"]]
            for r in rows
        ],
    )  # fmt: skip

    def draw(axes: Any) -> None:
        xs = [r["watches"] for r in rows]
        axes.plot(xs, [r["worker_rss_mib_median"] for r in rows], "o-", label="worker RSS")
        axes.plot(xs, [r["server_rss_mib"] for r in rows], "s--", label="dev server RSS")
        axes.axhline(1024, color="#c0392b", linestyle=":", label="1 GiB target")
        axes.set_xlabel("open sleeping watches")
        axes.set_ylabel("MiB")
        axes.set_ylim(bottom=0)
        axes.set_title("Memory with sleeping watches (sticky cache: SDK default, 1,000)")
        axes.legend()

    sizes = [r["watches"] for r in rows]
    save(
        "worker_memory" if max(sizes) >= 10000 else "worker_memory_quick",
        {
            "parameters": {"sizes": sizes, "policy": str(POLICY), "sticky_cache": 1000},
            "complete": complete,
            "idle_worker_rss_mib": idle,
            "rows": rows,
            "target_mib": 1024,
        },
        draw,
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        prog="python -m bench.worker_memory",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--quick", action="store_true", help="1,000 and 5,000 watches")
    parser.add_argument("--sizes", help="comma-separated, increasing, e.g. 10000,50000,100000")
    args = parser.parse_args()
    if args.sizes:
        sizes = [int(s) for s in args.sizes.split(",")]
    else:
        sizes = [1000, 5000] if args.quick else [10000, 50000, 100000]
    if sizes != sorted(sizes):
        parser.error("--sizes must increase: watches are added, never removed")
    asyncio.run(run(sizes))


if __name__ == "__main__":
    main()
