"""Benchmark — what one step and one watch's life cost: workflow tasks, activity tasks, local
activities, history events and bytes (read from each watch's fetched history), and CPU
milliseconds per process (psutil, over the group's whole life).

    .venv/bin/python -m bench.step_cost                 # 20 watches per group, ~4 minutes
    .venv/bin/python -m bench.step_cost --watches 50

Groups run one after the other on one stack, each K watches with a policy of its own
(bench/policies/cost_*.yaml), 40 s to their deadline, left to time out (nobody answers; the
sandbox's numbers ring out):

- base: one in-app step at intake;
- + in-app, + SMS, + call: the base and one more step of that channel — the step's cost is
  the group's minus the base's;
- full ladder: in-app, SMS, a call with one retry, a final call — a whole watch's life.

Watches are started as intake starts them (rows written, then ``start_watch``), so the API's
intake is not in these figures (bench/intake_throughput.py measures it); the API's CPU here is
the Twilio callbacks it serves.
"""

from __future__ import annotations

import argparse
import asyncio
import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from temporalio.api.enums.v1 import EventType
from temporalio.client import WorkflowExecutionStatus

from bench.intake_throughput import _cpu_seconds
from bench.report import console, save, table
from bench.stack import BenchStack, bench_stack, create_merchants
from bench.watches import insert_watches, start_watches

POLICIES = Path(__file__).resolve().parent / "policies"
GROUPS = {
    "base": "cost_in_app.yaml",
    "+ in-app": "cost_in_app_twice.yaml",
    "+ SMS": "cost_sms.yaml",
    "+ call": "cost_call.yaml",
    "full ladder": "cost_full.yaml",
}
DEADLINE_S = 40
E = EventType
COUNTED = {
    "workflow tasks": E.EVENT_TYPE_WORKFLOW_TASK_COMPLETED,
    "activity tasks": E.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED,
    "timers": E.EVENT_TYPE_TIMER_STARTED,
    "signals": E.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED,
}
# Markers by name: a local activity's result, or a workflow.patched() marker (once per patch
# and watch; gone once the patch is deprecated).
MARKERS = {"local activities": "core_local_activity", "patch markers": "core_patch"}


async def _closed(stack: BenchStack, ids: list[str], timeout_s: float) -> None:
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout_s
    waiting = list(ids)
    while waiting and loop.time() < end:
        still = []
        for refund_id in waiting:
            described = await stack.temporal.get_workflow_handle(f"refund-{refund_id}").describe()
            if described.status == WorkflowExecutionStatus.RUNNING:
                still.append(refund_id)
        waiting = still
        if waiting:
            await asyncio.sleep(2)
    if waiting:
        console.print(f"  {len(waiting)} watches still open after {timeout_s:.0f} s")


async def _history_counts(stack: BenchStack, ids: list[str]) -> dict[str, float]:
    totals: Counter[str] = Counter()
    for refund_id in ids:
        history = await stack.temporal.get_workflow_handle(f"refund-{refund_id}").fetch_history()
        totals["history events"] += len(history.events)
        totals["history bytes"] += sum(event.ByteSize() for event in history.events)
        kinds = Counter(event.event_type for event in history.events)
        for name, kind in COUNTED.items():
            totals[name] += kinds[kind]
        markers = Counter(
            event.marker_recorded_event_attributes.marker_name
            for event in history.events
            if event.event_type == E.EVENT_TYPE_MARKER_RECORDED
        )
        for name, marker in MARKERS.items():
            totals[name] += markers[marker]
    return {name: value / len(ids) for name, value in totals.items()}


async def _group(
    stack: BenchStack, name: str, policy: Path, merchants: list[str], watches: int
) -> dict[str, Any]:
    prefix = f"cost{uuid.uuid4().hex[:6]}"
    deadline = datetime.now(UTC) + timedelta(seconds=DEADLINE_S)
    deadlines = [deadline] * watches
    ids = await insert_watches(stack, prefix, deadlines, merchants)
    before = _cpu_seconds(stack)
    await start_watches(stack, ids, deadlines, policy, merchants=merchants)
    await _closed(stack, ids, DEADLINE_S + 90)
    await asyncio.sleep(3)  # last callbacks and the outcome's writes
    after = _cpu_seconds(stack)
    counts = await _history_counts(stack, ids)
    cpu = {proc: (after[proc] - before.get(proc, 0.0)) * 1000 / watches for proc in after}
    console.print(f"  {name}: {counts['history events']:.0f} events per watch")
    return {"counts": counts, "cpu_ms": cpu}


async def run(watches: int) -> None:
    fast = {
        "REFUNDWATCH_SMS_PER_SECOND": "50",  # pacing is not what is measured here
        "REFUNDWATCH_CALLS_PER_SECOND": "50",
        "REFUNDWATCH_SMS_PER_MERCHANT_PER_HOUR": "100",
    }
    async with bench_stack(
        policy=POLICIES / GROUPS["base"], env_overrides=fast, sandbox_cps=50
    ) as stack:
        merchants = await create_merchants(stack, watches)
        groups = {}
        for name, file in GROUPS.items():
            console.print(f"group {name} ({watches} watches) …")
            groups[name] = await _group(stack, name, POLICIES / file, merchants, watches)
    base = groups["base"]
    count_names = [*COUNTED, *MARKERS, "history events", "history bytes"]
    procs = ["temporal", "worker", "api0", "sandbox", "postgres (this run's backends)"]

    def row(label: str, group: dict[str, Any], minus: dict[str, Any] | None) -> list[Any]:
        def d(kind: str, key: str) -> float:
            value = float(group[kind].get(key, 0.0))
            return value - float(minus[kind].get(key, 0.0)) if minus else value

        counts = [round(d("counts", k), 1) for k in count_names]
        cpu = [round(d("cpu_ms", p), 1) for p in procs]
        return [label, *counts, *cpu, round(sum(cpu), 1)]

    rows = [
        row("in-app step", groups["+ in-app"], base),
        row("SMS step", groups["+ SMS"], base),
        row("call step (rings out)", groups["+ call"], base),
        row("watch: base (1 in-app, timeout)", base, None),
        row("watch: full ladder, timeout", groups["full ladder"], None),
    ]
    table(
        f"cost per step and per watch ({watches} watches per group; per step = group − base)",
        ["", *count_names, *(f"{p.split()[0]} CPU ms" for p in procs), "CPU ms total"],
        rows,
    )
    save(
        "step_cost" if watches >= 20 else f"step_cost_{watches}",
        {
            "parameters": {"watches": watches, "deadline_s": DEADLINE_S, "groups": GROUPS},
            "groups": groups,
            "table": {"columns": ["", *count_names, *procs, "total"], "rows": rows},
        },
        None,
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        prog="python -m bench.step_cost",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--watches", type=int, default=20, help="watches per group")
    args = parser.parse_args()
    asyncio.run(run(args.watches))


if __name__ == "__main__":
    main()
