"""Pacing benchmark, part 2: does the shared pacer hold its rate across processes
(`python -m bench.pacing_priority --part rate`)?

Two processes, each with its own engine and ``Pacer``, keep 25 sends each waiting for ~20 s;
the grants recorded in the database are measured: the rate achieved, the most in any one
second, the gaps between grants, each process's share and priority inversions.
"""

from __future__ import annotations

import asyncio
import itertools
import multiprocessing
import random
import time
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from rich.table import Table

from bench.pacing_common import (
    console,
    granted_tickets,
    result_name,
    save_result,
    scratch_database,
)
from config.logging import configure_logging
from db.engine import make_engine, make_session_factory
from db.models import SendTicket
from pacing import Pacer, PacingConfig

__all__ = ["part_rate"]


def _child(url: str, channel: str, limit: int, index: int, start: float, stop: float) -> None:
    configure_logging(level="warning")
    asyncio.run(_senders(url, channel, limit, index, start, stop))


async def _senders(
    url: str, channel: str, limit: int, index: int, start: float, stop: float
) -> None:
    """One worker process: 25 sends always waiting, each asking again as soon as it is let go."""
    engine = make_engine(url)
    pacer = Pacer(make_session_factory(engine), PacingConfig(rates={channel: limit}))
    rng = random.Random(index)

    async def sender(number: int) -> None:
        for n in range(1_000_000):
            key = f"{channel}:p{index}:s{number}:{n}"
            await pacer.acquire(key=key, channel=channel, priority=rng.random())

    await asyncio.sleep(max(0.0, start - time.time()))
    tasks = [asyncio.create_task(sender(number)) for number in range(25)]
    await asyncio.sleep(max(0.0, stop - time.time()))
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    await engine.dispose()


def max_in_any_window(times: Sequence[float], window: float = 1.0) -> int:
    ordered, best, start = sorted(times), 0, 0
    for end, moment in enumerate(ordered):
        while ordered[start] <= moment - window:
            start += 1
        best = max(best, end - start + 1)
    return best


def inversions(tickets: Sequence[SendTicket], tolerance: float = 0.05) -> list[dict[str, float]]:
    """Grants that went to a ticket while a better one had been waiting for more than
    ``tolerance`` (only tickets granted in the end can be checked: withdrawn ones are gone).
    ``enqueued_at`` is when the waiter asked; its ticket is visible once the insert commits."""
    found: list[dict[str, float]] = []
    first = min((t.granted_at.timestamp() for t in tickets if t.granted_at), default=0.0)
    for ticket in tickets:
        assert ticket.granted_at is not None
        at = ticket.granted_at.timestamp()
        waiting = [
            at - other.enqueued_at.timestamp()
            for other in tickets
            if other.granted_at is not None
            and other.granted_at.timestamp() > at
            and other.enqueued_at.timestamp() < at - tolerance
            and other.priority > ticket.priority
        ]
        if waiting:
            found.append({"grant_at_s": at - first, "better_one_waiting_s": max(waiting)})
    return found


async def measure_rate(url: str, limit: int, seconds: float) -> dict[str, Any]:
    channel = f"rate{uuid.uuid4().hex[:5]}"
    start = time.time() + 2.0  # both processes start sending at the same moment
    context = multiprocessing.get_context("spawn")
    processes = [
        context.Process(target=_child, args=(url, channel, limit, index, start, start + seconds))
        for index in range(2)
    ]
    for process in processes:
        process.start()
    for process in processes:
        await asyncio.to_thread(process.join, seconds + 60)
        if process.exitcode != 0:
            raise SystemExit(f"a worker process failed (exit code {process.exitcode})")
    tickets = await granted_tickets(url, channel)
    times = [t.granted_at.timestamp() for t in tickets if t.granted_at is not None]
    gaps = [b - a for a, b in itertools.pairwise(times)]
    return {
        "limit_per_second": limit,
        "seconds": seconds,
        "grants": len(times),
        "per_process": [sum(f":p{i}:" in t.idempotency_key for t in tickets) for i in range(2)],
        "achieved_per_second": (len(times) - 1) / (times[-1] - times[0]) if len(times) > 1 else 0,
        "max_in_any_1s_window": max_in_any_window(times),
        "min_gap_s": min(gaps) if gaps else None,
        "median_gap_s": sorted(gaps)[len(gaps) // 2] if gaps else None,
        "priority_inversions": inversions(tickets),
        "grant_times": [t - times[0] for t in times],
        "grant_process": [int(t.idempotency_key.split(":p")[1][0]) for t in tickets],
    }


async def part_rate(db: str, limits: Sequence[int], seconds: float) -> dict[str, Any]:
    runs = []
    async with scratch_database(db) as url:
        for limit in limits:
            console.print(f"  two processes, limit {limit}/s, {seconds:.0f} s …")
            runs.append(await measure_rate(url, limit, seconds))
    result = {
        "what": "the real Pacer shared by two processes (own engines) through the database",
        "database": db,
        "senders_per_process": 25,
        "margin_seconds": PacingConfig().margin_seconds,
        "runs": runs,
    }
    table = Table(title=f"Two worker processes, 25 waiting sends each ({db})")
    for column in ("limit", "grants", "achieved", "max in any 1 s", "min gap", "median gap",
                   "per process", "priority inversions"):  # fmt: skip
        table.add_column(column, justify="right")
    for run in runs:
        table.add_row(
            f"{run['limit_per_second']}/s",
            str(run["grants"]),
            f"{run['achieved_per_second']:.2f}/s",
            str(run["max_in_any_1s_window"]),
            f"{run['min_gap_s']:.3f} s",
            f"{run['median_gap_s']:.3f} s",
            " / ".join(str(n) for n in run["per_process"]),
            str(len(run["priority_inversions"])),
        )
    console.print(table)
    console.print(
        f"Grants are spaced window/limit apart; the window counted is 1 s + a "
        f"{result['margin_seconds']} s margin for the jitter between grant and request."
    )
    save_result(result_name("pacing_rate", db), result, lambda path: _plot_rate(runs, path))
    return result


def _plot_rate(runs: Sequence[dict[str, Any]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(1, len(runs), figsize=(5 * len(runs), 4), squeeze=False)
    for axis, run in zip(axes[0], runs, strict=True):
        times, owners = run["grant_times"], run["grant_process"]
        for index, colour in ((0, "tab:blue"), (1, "tab:orange")):
            xs = [t for t, o in zip(times, owners, strict=True) if o == index]
            ys = [n + 1 for n, o in enumerate(owners) if o == index]
            axis.scatter(xs, ys, s=10, color=colour, label=f"process {index + 1}")
        end = times[-1] if times else 1
        limit = run["limit_per_second"]
        axis.plot([0, end], [1, 1 + limit * end], "k--", linewidth=1, label=f"{limit}/s")
        axis.set_title(f"limit {limit}/s: {run['achieved_per_second']:.2f}/s achieved")
        axis.set_xlabel("seconds")
        axis.set_ylabel("grants so far")
        axis.legend()
        axis.grid(alpha=0.3)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
