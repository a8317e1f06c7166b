"""Pacing benchmark, part 1: priority order vs first come, first served, for a burst of calls
all due at once (`python -m bench.pacing_priority --part priority`).

Every call is a ticket given to the real ``Pacer`` (real database, real ``priority_for``, and
for the new dispatch the real ``TicketWorth`` recomputed on the Pacer's simulated clock); the
grant order it produces is what is scored. The clock, the calls and their outcomes are
simulated, with the assumptions below (printed with the results). Whether a call connects
comes from the answer model of bench/pacing_worth.py (each contact's curve at its local hour);
the constant p = 0.6 of the first version is kept as a second score.
"""

from __future__ import annotations

import asyncio
import math
import random
import statistics
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from typing import Any

from bench.pacing_burst_report import plot_priority, print_priority
from bench.pacing_common import (
    console,
    granted_tickets,
    result_name,
    save_result,
    scratch_database,
)
from bench.pacing_worth import (
    BURST_START,
    AnswerProfile,
    answer_profiles,
    greedy_order,
    sorted_order,
    ticket_worth,
)
from db.engine import make_engine, make_session_factory
from pacing import Pacer, PacingConfig, TicketWorth, expected_loss_minor, priority_for

__all__ = ["part_priority", "sweep"]

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
    recomputed: bool = False  # a TicketWorth, recomputed while waiting (the new dispatch)


DISCIPLINES = (
    Discipline("fifo", "first come, first served", lambda c: 0.0),
    Discipline(
        "worth",
        "worth now (expected loss x P(answer now) / time left, recomputed)",
        lambda c: 0.0,
        recomputed=True,
    ),
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


def worths(calls: Sequence[DueCall], profiles: Sequence[AnswerProfile]) -> list[TicketWorth]:
    return [
        ticket_worth(c.amount_minor, c.risk_score, c.deadline_s, p)
        for c, p in zip(calls, profiles, strict=True)
    ]


async def grant_order(
    url: str,
    calls: Sequence[DueCall],
    discipline: Discipline,
    profiles: Sequence[AnswerProfile],
) -> list[int]:
    """Queue every call with the real Pacer, let them all wait; the arrivals in grant order."""
    channel = f"{discipline.name[:4]}{uuid.uuid4().hex[:5]}"
    config = PacingConfig(
        rates={channel: CALLS_PER_SECOND},
        window_seconds=SIM_SECOND,
        margin_seconds=0,
        max_poll_seconds=0.5,
    )
    engine = make_engine(url, pool_size=20)
    granted = [0]

    def clock() -> datetime:
        """The burst's simulated time: slot k is k seconds in, whatever the real pace (on a
        loaded machine the Pacer grants slower than one per SIM_SECOND)."""
        return BURST_START + timedelta(seconds=granted[0] / CALLS_PER_SECOND)

    pacer = Pacer(make_session_factory(engine), config, clock=clock)
    worth = worths(calls, profiles) if discipline.recomputed else [None] * len(calls)
    try:
        for call in calls:  # the burst arrives in this order, before the first slot frees
            await pacer.enqueue(
                key=f"{channel}:{call.arrival:04d}",
                channel=channel,
                priority=discipline.priority(call),
                worth=worth[call.arrival],
            )

        async def one(call: DueCall) -> None:
            await pacer.acquire(
                key=f"{channel}:{call.arrival:04d}",
                channel=channel,
                priority=discipline.priority(call),
                worth=worth[call.arrival],
            )
            granted[0] += 1

        await asyncio.gather(*(one(call) for call in calls))
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


Connect = Callable[[DueCall, int], float]  # P(a person answers) for a call placed in a slot


def constant_connect(call: DueCall, slot: int) -> float:
    return P_CONNECT


def model_connect(profiles: Sequence[AnswerProfile]) -> Connect:
    def connect(call: DueCall, slot: int) -> float:
        at = BURST_START + timedelta(seconds=slot / CALLS_PER_SECOND)
        return profiles[call.arrival].true_at(at)

    return connect


def score(
    label: str,
    calls: Sequence[DueCall],
    slots: Sequence[int | None],
    connect: Connect = constant_connect,
) -> Score:
    """slots[arrival] = the slot the call went out in (slot k at k / CALLS_PER_SECOND s)."""
    per_slot = [0.0] * len(calls)
    in_time, amount, prevented, kept = 0, 0, 0.0, 0.0
    for call in calls:
        slot = slots[call.arrival]
        if slot is None or slot / CALLS_PER_SECOND + ACT_SECONDS > call.deadline_s:
            continue
        chance = connect(call, slot) * P_HANDLE
        in_time += 1
        amount += call.amount_minor
        prevented += expected_loss_minor(call.amount_minor, call.risk_score) * chance
        kept += call.amount_minor * chance
        per_slot[slot] += expected_loss_minor(call.amount_minor, call.risk_score) * chance
    cumulative = [sum(per_slot[: k + 1]) for k in range(len(per_slot))]
    return Score(label, in_time, amount, prevented, kept, cumulative)


def offline_optimum(
    calls: Sequence[DueCall], weight: Callable[[DueCall], float] = lambda c: 1.0
) -> list[int | None]:
    """The best schedule knowing the whole burst: by value, into the latest free slot that is
    still in time (exact for unit-length jobs with deadlines). A bound, not a live policy.
    ``weight``: a call's chance of connecting, if it differs between calls (the answer model;
    exact while the chances do not change during the burst — 8 minutes, rarely an hour's turn)."""
    free = list(range(len(calls)))  # free[s]: the latest free slot <= s (union-find)

    def find(s: int) -> int:
        while free[s] != s:
            free[s] = free[free[s]]
            s = free[s]
        return s

    slots: list[int | None] = [None] * len(calls)
    taken = [False] * len(calls)
    by_value = sorted(
        calls, key=lambda c: -expected_loss_minor(c.amount_minor, c.risk_score) * weight(c)
    )
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


def _slots(order: Sequence[int], count: int) -> list[int | None]:
    slots: list[int | None] = [None] * count
    for slot, arrival in enumerate(order):
        slots[arrival] = slot
    return slots


def _orders_by_rule(
    calls: Sequence[DueCall], profiles: Sequence[AnswerProfile]
) -> dict[str, list[int]]:
    """Each discipline's order computed directly (no Pacer): sorted fixed priorities, and the
    slot-by-slot greedy of the recomputed worth."""
    orders = {
        d.name: sorted_order(len(calls), lambda i, d=d: d.priority(calls[i]))  # type: ignore[misc]
        for d in DISCIPLINES
        if not d.recomputed
    }
    orders["worth"] = greedy_order(worths(calls, profiles), 1 / CALLS_PER_SECOND)
    return orders


def sweep(seeds: int) -> dict[str, Any]:
    """Ratios over seeds 1..N with orders by rule (the Pacer reproduces them: see part 1)."""
    keys = ("worth_vs_fifo", "priority_vs_fifo", "worth_vs_priority", "priority_vs_fifo_p06",
            "optimum_vs_fifo")  # fmt: skip
    ratios: dict[str, list[float]] = {key: [] for key in keys}
    for seed in range(1, seeds + 1):
        calls, profiles = make_burst(CALLS, seed), answer_profiles(CALLS, seed)
        orders = _orders_by_rule(calls, profiles)
        connect = model_connect(profiles)
        got = {
            name: score(name, calls, _slots(order, len(calls)), connect).loss_prevented_minor
            for name, order in orders.items()
        }
        fixed_p = {
            name: score(name, calls, _slots(orders[name], len(calls))).loss_prevented_minor
            for name in ("fifo", "priority")
        }
        ratios["worth_vs_fifo"].append(got["worth"] / got["fifo"])
        ratios["priority_vs_fifo"].append(got["priority"] / got["fifo"])
        ratios["worth_vs_priority"].append(got["worth"] / got["priority"])
        ratios["priority_vs_fifo_p06"].append(fixed_p["priority"] / fixed_p["fifo"])
        chance = [p.true_at(BURST_START) for p in profiles]
        truth = offline_optimum(calls, lambda c, chance=chance: chance[c.arrival])  # type: ignore[misc]
        best = score("optimum", calls, truth, connect).loss_prevented_minor
        ratios["optimum_vs_fifo"].append(best / got["fifo"])
    summary = {
        key: {"median": statistics.median(values), "min": min(values), "max": max(values)}
        for key, values in ratios.items()
    }
    return {"seeds": seeds, "ratios": ratios, "summary": summary}


async def part_priority(
    db: str, seed: int, seeds: int = 0, pacer_calls: int = CALLS
) -> dict[str, Any]:
    """The Pacer's grant orders for a burst of ``pacer_calls`` (500 by default; fewer on a
    loaded machine, where 500 waiters can exhaust the connection pool), scored; with ``seeds``
    the 500-call ratios over seeds 1..N by rule."""
    calls = make_burst(pacer_calls, seed)
    profiles = answer_profiles(pacer_calls, seed)
    connect = model_connect(profiles)
    scores: list[Score] = []
    constant: list[Score] = []
    orders: dict[str, list[int]] = {}
    async with scratch_database(db) as url:
        for discipline in DISCIPLINES:
            started = time.monotonic()
            order = await grant_order(url, calls, discipline, profiles)
            console.print(
                f"  {discipline.label}: {len(order)} grants by the Pacer "
                f"in {time.monotonic() - started:.1f} s real time"
            )
            orders[discipline.name] = order
            slots = _slots(order, len(calls))
            scores.append(score(discipline.label, calls, slots, connect))
            constant.append(score(discipline.label, calls, slots))
    by_rule = _orders_by_rule(calls, profiles)
    matches = sum(a == b for a, b in zip(orders["priority"], by_rule["priority"], strict=True))
    worth_matches = sum(a == b for a, b in zip(orders["worth"], by_rule["worth"], strict=True))
    fifo_matches = orders["fifo"] == [c.arrival for c in calls]
    optimum = score("offline optimum (a bound at p = 0.6)", calls, offline_optimum(calls))
    named = {d.name: sc for d, sc in zip(DISCIPLINES, scores, strict=True)}
    named_p06 = {d.name: sc for d, sc in zip(DISCIPLINES, constant, strict=True)}
    result = {
        "what": "dispatch order vs first-come-first-served, burst of due calls",
        "real": "Pacer + send_tickets in a real database, priority_for / TicketWorth recomputed "
        "on the Pacer's clock, the grant order",
        "simulated": {
            "clock": f"1 simulated second = {SIM_SECOND} s real; the Pacer's window is that",
            "calls": "no provider: a grant is a call placed in that slot",
            "outcome": f"a call helps if placed >= {ACT_SECONDS:.0f} s before the deadline; "
            "a person answers with the contact's true chance at its local hour (answer model, "
            f"bench/pacing_worth.py; or p={P_CONNECT} constant); a connected call gets the "
            f"refund handled with p={P_HANDLE}; value at stake = amount x risk/100",
            "burst_start": BURST_START.isoformat(),
        },
        "database": db,
        "seed": seed,
        "calls": pacer_calls,
        "calls_per_second": CALLS_PER_SECOND,
        "deadlines_s": DEADLINES,
        "pacer_order_matches_priority_ranking": f"{matches}/{len(calls)}",
        "pacer_order_matches_recomputed_greedy": f"{worth_matches}/{len(calls)}",
        "pacer_fifo_keeps_arrival_order": fifo_matches,
        "ratio_loss_prevented_worth_vs_fifo": named["worth"].loss_prevented_minor
        / named["fifo"].loss_prevented_minor,
        "ratio_loss_prevented_priority_vs_fifo": named["priority"].loss_prevented_minor
        / named["fifo"].loss_prevented_minor,
        "ratio_loss_prevented_priority_vs_fifo_p06": named_p06["priority"].loss_prevented_minor
        / named_p06["fifo"].loss_prevented_minor,
        "ratio_ledger_kept_worth_vs_fifo": named["worth"].ledger_kept_minor
        / named["fifo"].ledger_kept_minor,
        "scores": [{k: v for k, v in asdict(s).items() if k != "cumulative"} for s in scores],
        "scores_p06": [
            {k: v for k, v in asdict(s).items() if k != "cumulative"} for s in [*constant, optimum]
        ],
        "due_calls": [asdict(c) for c in calls],
        "grant_orders": orders,
    }
    if seeds:
        result["sweep"] = sweep(seeds)
    print_priority(result, scores, [*constant, optimum])
    save_result(result_name("pacing_priority", db), result, lambda p: plot_priority(scores, p))
    return result
