"""Pacing benchmark: does priority order save more money than first-come-first-served, and does
the shared pacer hold its rate across processes?

    .venv/bin/python bench/pacing_priority.py               # both parts, PostgreSQL scratch DB
    .venv/bin/python bench/pacing_priority.py --db sqlite   # the demo's database instead
    .venv/bin/python bench/pacing_priority.py --part priority   (or --part rate)

Part 1, priority vs FIFO: a burst of 500 calls all due at once, at 1 call per second. Every call
is a ticket given to the real ``Pacer`` (real database, real ``priority_for``); the grant order
it produces is what is scored. The clock, the calls and their outcomes are simulated (stated in
the output). Part 2, the rate: two processes, each with its own engine and ``Pacer``, keep 25
sends each waiting for ~20 s; the grants recorded in the database are measured.

Results (JSON, PNG) go to bench/results/. The PNG needs matplotlib: pip install -e '.[bench]'.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import math
import multiprocessing
import os
import random
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from contextlib import asynccontextmanager, contextmanager
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import asyncpg
from rich.console import Console
from rich.table import Table
from sqlmodel import col, select

from config.logging import configure_logging
from db.engine import make_engine, make_session_factory
from db.migrate import upgrade
from db.models import SendTicket
from pacing import Pacer, PacingConfig, expected_loss_minor, priority_for

RESULTS = Path(__file__).resolve().parent / "results"
ADMIN_URL = os.environ.get("TEST_DATABASE_ADMIN_URL", "postgresql://postgres@127.0.0.1:5432/test")
console = Console(highlight=False, width=120)

# ---- the assumptions of part 1 (printed with the results) ----
CALLS = 500
CALLS_PER_SECOND = 1
SIM_SECOND = 0.02  # real seconds per simulated second: the Pacer's window in part 1
ACT_SECONDS = 60.0  # a call helps only if the merchant has a minute left to act on it
P_CONNECT = 0.6  # a call is answered by a person
P_HANDLE = 0.55  # once connected, the refund is handled in time ("more than half")
DEADLINES = (120.0, 4 * 3600.0)  # log-uniform: minutes to hours away
AMOUNT_MEDIAN_MINOR, AMOUNT_SIGMA = 60_000, 1.1  # lognormal: median 600.00, long right tail


@dataclass(frozen=True)
class DueCall:
    arrival: int  # position in the burst: the order their workflows asked for a slot
    amount_minor: int
    risk_score: int
    deadline_s: float  # seconds after the burst


@dataclass(frozen=True)
class Discipline:
    name: str
    label: str
    priority: Callable[[DueCall], float]


DISCIPLINES = (
    Discipline("fifo", "first come, first served", lambda c: 0.0),
    Discipline(
        "priority",
        "priority_for (expected loss / time left)",
        lambda c: priority_for(c.amount_minor, c.risk_score, c.deadline_s),
    ),
    Discipline(
        "loss",
        "expected loss only (ablation)",
        lambda c: expected_loss_minor(c.amount_minor, c.risk_score),
    ),
)


def make_burst(count: int, seed: int) -> list[DueCall]:
    rng = random.Random(seed)
    calls = []
    for arrival in range(count):
        amount = int(rng.lognormvariate(math.log(AMOUNT_MEDIAN_MINOR), AMOUNT_SIGMA))
        risk = round(rng.gauss(55, 18))
        deadline = math.exp(rng.uniform(math.log(DEADLINES[0]), math.log(DEADLINES[1])))
        calls.append(
            DueCall(arrival, min(max(amount, 1_000), 50_000_000), min(max(risk, 5), 99), deadline)
        )
    return calls


# ------------------------------------------------------------------------------ databases


@asynccontextmanager
async def scratch_database(kind: str) -> AsyncIterator[str]:
    """A migrated database of its own, dropped afterwards."""
    if kind == "sqlite":
        with tempfile.TemporaryDirectory() as folder:
            url = f"sqlite+aiosqlite:///{folder}/bench.db"
            await asyncio.to_thread(upgrade, url)
            yield url
        return
    name = f"rw_bench_{uuid.uuid4().hex[:8]}"
    try:
        admin = await asyncpg.connect(ADMIN_URL)
    except (OSError, asyncpg.PostgresError) as err:
        raise SystemExit(
            f"cannot reach PostgreSQL at {ADMIN_URL} ({err}); start it, set "
            "TEST_DATABASE_ADMIN_URL, or run with --db sqlite"
        ) from err
    await admin.execute(f'CREATE DATABASE "{name}"')
    await admin.close()
    url = ADMIN_URL.rsplit("/", 1)[0].replace("postgresql://", "postgresql+asyncpg://") + f"/{name}"
    try:
        await asyncio.to_thread(upgrade, url)
        yield url
    finally:
        admin = await asyncpg.connect(ADMIN_URL)
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


async def granted_tickets(url: str, channel: str) -> list[SendTicket]:
    engine = make_engine(url)
    try:
        async with make_session_factory(engine)() as session:
            statement = select(SendTicket).where(
                SendTicket.channel == channel,
                col(SendTicket.granted_at).is_not(None),
            )
            tickets = list((await session.exec(statement)).all())
    finally:
        await engine.dispose()
    return sorted(tickets, key=lambda t: (t.granted_at, t.idempotency_key))


# ------------------------------------------------------------------------------ part 1


async def grant_order(url: str, calls: Sequence[DueCall], discipline: Discipline) -> list[int]:
    """Queue every call with the real Pacer, let them all wait; the arrivals in grant order."""
    channel = f"{discipline.name[:4]}{uuid.uuid4().hex[:5]}"
    config = PacingConfig(
        rates={channel: CALLS_PER_SECOND},
        window_seconds=SIM_SECOND,
        margin_seconds=0,
        max_poll_seconds=0.5,
    )
    engine = make_engine(url, pool_size=20)
    pacer = Pacer(make_session_factory(engine), config)
    try:
        for call in calls:  # the burst arrives in this order, before the first slot frees
            priority = discipline.priority(call)
            await pacer.enqueue(
                key=f"{channel}:{call.arrival:04d}", channel=channel, priority=priority
            )
        await asyncio.gather(
            *(
                pacer.acquire(
                    key=f"{channel}:{call.arrival:04d}",
                    channel=channel,
                    priority=discipline.priority(call),
                )
                for call in calls
            )
        )
    finally:
        await engine.dispose()
    return [int(t.idempotency_key.rsplit(":", 1)[1]) for t in await granted_tickets(url, channel)]


@dataclass(frozen=True)
class Score:
    label: str
    calls_in_time: int
    amount_called_in_time_minor: int
    loss_prevented_minor: float  # Σ amount × risk/100 × P_CONNECT × P_HANDLE, in time
    ledger_kept_minor: float  # Σ amount × P_CONNECT × P_HANDLE, in time
    cumulative: list[float]  # loss prevented after each slot


def score(label: str, calls: Sequence[DueCall], slots: Sequence[int | None]) -> Score:
    """slots[arrival] = the slot the call went out in (slot k at k / CALLS_PER_SECOND s)."""
    per_slot = [0.0] * len(calls)
    in_time, amount, prevented, kept = 0, 0, 0.0, 0.0
    for call in calls:
        slot = slots[call.arrival]
        if slot is None or slot / CALLS_PER_SECOND + ACT_SECONDS > call.deadline_s:
            continue
        chance = P_CONNECT * P_HANDLE
        in_time += 1
        amount += call.amount_minor
        prevented += expected_loss_minor(call.amount_minor, call.risk_score) * chance
        kept += call.amount_minor * chance
        per_slot[slot] += expected_loss_minor(call.amount_minor, call.risk_score) * chance
    cumulative = [sum(per_slot[: k + 1]) for k in range(len(per_slot))]
    return Score(label, in_time, amount, prevented, kept, cumulative)


def offline_optimum(calls: Sequence[DueCall]) -> list[int | None]:
    """The best schedule knowing the whole burst: by value, into the latest free slot that is
    still in time (exact for unit-length jobs with deadlines). A bound, not a live policy."""
    free = list(range(len(calls)))  # free[s]: the latest free slot <= s (union-find)

    def find(s: int) -> int:
        while free[s] != s:
            free[s] = free[free[s]]
            s = free[s]
        return s

    slots: list[int | None] = [None] * len(calls)
    taken = [False] * len(calls)
    by_value = sorted(calls, key=lambda c: -expected_loss_minor(c.amount_minor, c.risk_score))
    for call in by_value:
        last = math.floor((call.deadline_s - ACT_SECONDS) * CALLS_PER_SECOND)
        if last < 0:
            continue
        slot = find(min(last, len(calls) - 1))
        if taken[slot]:
            continue
        taken[slot] = True
        slots[call.arrival] = slot
        if slot > 0:
            free[slot] = slot - 1
    late = [c for c in calls if slots[c.arrival] is None]  # they still get the leftover slots
    leftover = iter(s for s in range(len(calls)) if not taken[s])
    for call in late:
        slots[call.arrival] = next(leftover)
    return slots


async def part_priority(db: str, seed: int) -> dict[str, Any]:
    calls = make_burst(CALLS, seed)
    scores: list[Score] = []
    orders: dict[str, list[int]] = {}
    async with scratch_database(db) as url:
        for discipline in DISCIPLINES:
            started = time.monotonic()
            order = await grant_order(url, calls, discipline)
            console.print(
                f"  {discipline.label}: {len(order)} grants by the Pacer "
                f"in {time.monotonic() - started:.1f} s real time"
            )
            orders[discipline.name] = order
            slots: list[int | None] = [None] * len(calls)
            for slot, arrival in enumerate(order):
                slots[arrival] = slot
            scores.append(score(discipline.label, calls, slots))
    expected = sorted(calls, key=lambda c: (-priority_for(c.amount_minor, c.risk_score,
                                                          c.deadline_s), c.arrival))  # fmt: skip
    matches = sum(a == c.arrival for a, c in zip(orders["priority"], expected, strict=True))
    fifo_matches = orders["fifo"] == [c.arrival for c in calls]
    optimum = score("offline optimum (a bound)", calls, offline_optimum(calls))
    fifo, prio = scores[0], scores[1]
    result = {
        "what": "priority order vs first-come-first-served, burst of due calls",
        "real": "Pacer + send_tickets in a real database, priority_for, the grant order",
        "simulated": {
            "clock": f"1 simulated second = {SIM_SECOND} s real; the Pacer's window is that",
            "calls": "no provider: a grant is a call placed in that slot",
            "outcome": f"a call helps if placed >= {ACT_SECONDS:.0f} s before the deadline; "
            f"connects with p={P_CONNECT}; a connected call gets the refund handled with "
            f"p={P_HANDLE}; value at stake = amount x risk/100 (the expected loss)",
        },
        "database": db,
        "seed": seed,
        "calls": CALLS,
        "calls_per_second": CALLS_PER_SECOND,
        "deadlines_s": DEADLINES,
        "pacer_order_matches_priority_ranking": f"{matches}/{len(calls)}",
        "pacer_fifo_keeps_arrival_order": fifo_matches,
        "ratio_loss_prevented_priority_vs_fifo": prio.loss_prevented_minor
        / fifo.loss_prevented_minor,
        "ratio_ledger_kept_priority_vs_fifo": prio.ledger_kept_minor / fifo.ledger_kept_minor,
        "scores": [
            {k: v for k, v in asdict(s).items() if k != "cumulative"} for s in [*scores, optimum]
        ],
        "due_calls": [asdict(c) for c in calls],
        "grant_orders": orders,
    }
    _print_priority(result, [*scores, optimum])
    _save(_name("pacing_priority", db), result, lambda p: _plot_priority([*scores, optimum], p))
    return result


def _money(minor: float) -> str:
    return f"{minor / 100:,.0f}"


def _print_priority(result: dict[str, Any], scores: Sequence[Score]) -> None:
    table = Table(title=f"{CALLS} calls due at once, {CALLS_PER_SECOND} call/s")
    table.add_column("order", no_wrap=True)
    table.add_column("calls in time", justify="right")
    table.add_column("amount called in time", justify="right")
    table.add_column("kept off the loss ledger*", justify="right")
    table.add_column("expected loss prevented*", justify="right")
    for s in scores:
        table.add_row(
            s.label,
            f"{s.calls_in_time} / {CALLS}",
            _money(s.amount_called_in_time_minor),
            _money(s.ledger_kept_minor),
            _money(s.loss_prevented_minor),
        )
    console.print(table)
    simulated = result["simulated"]
    console.print(f"* {simulated['outcome']}")
    console.print(f"Simulated: the clock ({simulated['clock']}); {simulated['calls']}.")
    console.print(f"Real: {result['real']} ({result['database']}).")
    console.print(
        f"Pacer grant order = priority ranking: {result['pacer_order_matches_priority_ranking']}"
        f"; FIFO kept arrival order: {result['pacer_fifo_keeps_arrival_order']}"
    )
    console.print(
        f"[bold]priority / FIFO: {result['ratio_loss_prevented_priority_vs_fifo']:.2f}x "
        f"expected loss prevented, {result['ratio_ledger_kept_priority_vs_fifo']:.2f}x "
        "amount kept off the loss ledger[/]"
    )


def _plot_priority(scores: Sequence[Score], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(figsize=(8, 4.5))
    *paced, bound = scores
    for s in paced:
        minutes = [k / CALLS_PER_SECOND / 60 for k in range(len(s.cumulative))]
        axes.plot(minutes, [v / 100 for v in s.cumulative], label=s.label)
    axes.axhline(bound.loss_prevented_minor / 100, color="grey", linestyle="--", label=bound.label)
    axes.set_xlabel("minutes after the burst (simulated; one call per second)")
    axes.set_ylabel("expected loss prevented (currency units)")
    axes.set_title(f"{CALLS} due calls at {CALLS_PER_SECOND}/s: who goes first")
    axes.legend()
    axes.grid(alpha=0.3)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)


# ------------------------------------------------------------------------------ part 2


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
    _save(_name("pacing_rate", db), result, lambda path: _plot_rate(runs, path))
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


# ------------------------------------------------------------------------------ output


def _name(stem: str, db: str) -> str:
    return stem if db == "postgres" else f"{stem}_{db}"


def _save(name: str, result: dict[str, Any], plot: Callable[[Path], None]) -> None:
    RESULTS.mkdir(parents=True, exist_ok=True)
    result["generated_at"] = datetime.now().astimezone().isoformat(timespec="seconds")
    data = RESULTS / f"{name}.json"
    data.write_text(json.dumps(result, indent=1, default=str) + "\n", encoding="utf-8")
    with _png_or_note(name) as path:
        if path is not None:
            plot(path)
    console.print(f"saved {data.relative_to(RESULTS.parent.parent)}")


@contextmanager
def _png_or_note(name: str) -> Iterator[Path | None]:
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        console.print("(no PNG: matplotlib is missing; pip install -e '.[bench]')")
        yield None
        return
    path = RESULTS / f"{name}.png"
    yield path
    console.print(f"saved {path.relative_to(RESULTS.parent.parent)}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--part", choices=["all", "priority", "rate"], default="all")
    parser.add_argument("--db", choices=["postgres", "sqlite"], default="postgres")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--limits", default="1,5", help="part 2: rates to measure, e.g. 1,5")
    parser.add_argument("--seconds", type=float, default=20.0, help="part 2: per rate")
    args = parser.parse_args()
    configure_logging(level="warning")
    limits = [int(v) for v in args.limits.split(",") if v.strip()]
    if args.part in {"all", "priority"}:
        console.print(f"[bold]Part 1[/]: priority vs FIFO ({args.db})")
        asyncio.run(part_priority(args.db, args.seed))
    if args.part in {"all", "rate"}:
        console.print(f"[bold]Part 2[/]: the rate across two processes ({args.db})")
        asyncio.run(part_rate(args.db, limits, args.seconds))


if __name__ == "__main__":
    main()
