"""Pacing benchmark, part 1: priority order vs first come, first served, for a burst of calls
all due at once (`python -m bench.pacing_priority --part priority`).

Every call is a ticket given to the real ``Pacer`` (real database, real ``priority_for``); the
grant order it produces is what is scored. The clock, the calls and their outcomes are
simulated, with the assumptions below (printed with the results).
"""

from __future__ import annotations

import asyncio
import math
import random
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
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
from db.engine import make_engine, make_session_factory
from pacing import Pacer, PacingConfig, expected_loss_minor, priority_for

__all__ = ["part_priority"]

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
    save_result(
        result_name("pacing_priority", db), result, lambda p: _plot_priority([*scores, optimum], p)
    )
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
