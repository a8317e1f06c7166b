"""What a sticky-cache miss costs the worker: replaying a watch's whole history, in Temporal's
Python sandbox and without it, on the recorded histories of the main scenarios.

    .venv/bin/python -m bench.replay_cost              # each history 20 times per runner
    .venv/bin/python -m bench.replay_cost --rounds 50

A wake-up that misses the worker's sticky cache replays the watch's history from its first
event before it can run the new task; that is the SDK's Replayer's work. Both runners replay
the same histories (tests/workflow_histories, 12–120 events each) in the same process, the
rounds interleaved, and the process CPU (all threads: the Python code and the SDK core) is
counted per replay. No server: the cost is the worker's alone.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from temporalio.client import WorkflowHistory
from temporalio.worker import Replayer, UnsandboxedWorkflowRunner, WorkflowRunner
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner

from bench.report import save, table
from workflows.refund_watch import RefundWatchWorkflow

HISTORIES = Path(__file__).resolve().parent.parent / "tests" / "workflow_histories"
RUNNERS: dict[str, WorkflowRunner] = {
    "sandboxed (default)": SandboxedWorkflowRunner(),
    "unsandboxed": UnsandboxedWorkflowRunner(),
}


def _histories() -> list[WorkflowHistory]:
    documents = [json.loads(path.read_text()) for path in sorted(HISTORIES.glob("*.json"))]
    return [WorkflowHistory.from_json(d["workflow_id"], d["history"]) for d in documents]


async def _replay_all(runner: WorkflowRunner, histories: list[WorkflowHistory]) -> float:
    """CPU ms per replay, over one Replayer run of all ``histories`` (its set-up, once per
    run, is spread over them: a worker pays it once, not per cache miss)."""
    replayer = Replayer(workflows=[RefundWatchWorkflow], workflow_runner=runner)

    async def each() -> AsyncIterator[WorkflowHistory]:
        for history in histories:
            yield history

    before = time.process_time()
    count = 0
    async with replayer.workflow_replay_iterator(each()) as results:
        async for result in results:
            assert result.replay_failure is None, result.replay_failure
            count += 1
    assert count == len(histories)
    return (time.process_time() - before) * 1000 / count


async def run(rounds: int) -> None:
    histories = _histories()
    events = [len(list(h.events)) for h in histories]
    batch = histories * rounds
    for runner in RUNNERS.values():  # warm: imports, the sandbox's module cache
        await _replay_all(runner, histories)
    per_runner: dict[str, list[float]] = {name: [] for name in RUNNERS}
    for _ in range(2):  # A B A B: the machine's drift falls on both
        for name, runner in RUNNERS.items():
            per_runner[name].append(await _replay_all(runner, batch))
    mean_events = sum(events) / len(events)
    results: dict[str, dict[str, Any]] = {
        name: {"cpu_ms_per_replay": runs, "mean": sum(runs) / len(runs),
               "cpu_ms_per_100_events": sum(runs) / len(runs) / mean_events * 100}
        for name, runs in per_runner.items()
    }  # fmt: skip
    sandboxed, bare = (results[n]["mean"] for n in RUNNERS)
    rows: list[list[Any]] = [
        [name, " / ".join(f"{v:.1f}" for v in r["cpu_ms_per_replay"]), r["mean"],
         r["cpu_ms_per_100_events"]]
        for name, r in results.items()
    ]  # fmt: skip
    rows.append(["sandboxed ÷ unsandboxed", "", sandboxed / bare, ""])
    table(
        f"replaying a watch's whole history (a sticky-cache miss): {len(histories)} recorded "
        f"histories × {rounds}, {min(events)}–{max(events)} events (mean {mean_events:.0f}) "
        "— CPU ms per replay",
        ["runner", "two runs", "mean", "per 100 events"],
        rows,
    )
    save(
        "replay_cost",
        {
            "parameters": {"rounds": rounds, "histories": len(histories),
                           "events_min": min(events), "events_max": max(events),
                           "events_mean": mean_events},
            "runners": results,
            "ratio_mean": sandboxed / bare,
        },
        None,
    )  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(
        prog="python -m bench.replay_cost",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--rounds", type=int, default=20)
    args = parser.parse_args()
    asyncio.run(run(args.rounds))


if __name__ == "__main__":
    main()
