"""How many merchants scripted to answer were reached, and why the others were not: measured
from the sandbox's log, for the question issue 15 asks of the 150-refund batches.

For each refund whose first contact answers and presses 1 (kinds ``*answers_1``): was it heard
before its deadline; if not, was a call to it created at all before the deadline, and how long
before it (the call script needs some seconds of speech before its <Gather>). Also the calls
created per second over the run, and the SMS and calls still without a final status.

Written as JSON to ``REFUNDWATCH_FAULT_REPORT`` (a path) when that is set; the checks do not
depend on it.
"""

from __future__ import annotations

import json
import os
from collections import Counter
from datetime import datetime
from pathlib import Path
from typing import Any

from tests.harness.faults.batch import CREATES, FINALS, Batch
from tests.harness.faults.watch import RACE

__all__ = ["reach_report", "write_reach_report"]


def _at(event: dict[str, Any]) -> datetime:
    return datetime.fromisoformat(str(event["at"]))


async def reach_report(batch: Batch) -> dict[str, Any]:
    await batch.hear()
    log = (await batch.sandbox.get("/sandbox/log")).json()
    calls_to: dict[str, list[datetime]] = {}
    created: Counter[int] = Counter()  # calls created per second of the run
    sids: dict[str, str] = {}
    finished: set[str] = set()
    start = min((_at(e) for e in log if e["kind"] in CREATES), default=None)
    for event in log:
        if event["kind"] == "call.created":
            calls_to.setdefault(str(event["to"]), []).append(_at(event))
            if start is not None:
                created[int((_at(event) - start).total_seconds())] += 1
        if event["kind"] in CREATES:
            sids[str(event["sid"])] = event["kind"]
        elif event["kind"] in FINALS and event.get("status") in FINALS[event["kind"]]:
            finished.add(str(event["sid"]))
    answerers = [w for w in batch.watches.values() if w.kind.endswith("answers_1")]
    reasons: Counter[str] = Counter()
    lead_s: list[float] = []
    for watch in answerers:
        if watch.heard_at is not None and watch.heard_at < watch.deadline - RACE:
            reasons["heard in time"] += 1
            continue
        first = min(calls_to.get(watch.phones[0], []), default=None)
        if first is None or first >= watch.deadline:
            reasons["no call before the deadline"] += 1
        else:
            lead_s.append(round((watch.deadline - first).total_seconds(), 2))
            reasons["called, but not heard in time"] += 1
    unfinished = Counter(kind for sid, kind in sids.items() if sid not in finished)
    return {
        "refunds": len(batch.watches),
        "scripted_to_answer": len(answerers),
        "outcome_of_answerers": dict(reasons),
        "first_call_lead_s_of_unheard": sorted(lead_s),
        "calls_created": sum(created.values()),
        "calls_created_peak_per_s": max(created.values(), default=0),
        "creates_without_final_status": dict(unfinished),
    }


async def write_reach_report(batch: Batch, name: str) -> None:
    target = os.environ.get("REFUNDWATCH_FAULT_REPORT")
    if not target:
        return
    report = {"test": name, **await reach_report(batch)}
    _append(Path(target), report)


def _append(path: Path, report: dict[str, Any]) -> None:
    existing = json.loads(path.read_text()) if path.exists() else []
    path.write_text(json.dumps([*existing, report], indent=2))


def write_report_entry(name: str, entry: dict[str, Any]) -> None:
    """Another figure of test ``name`` for the same report (e.g. what the provider-records job
    settled), when ``REFUNDWATCH_FAULT_REPORT`` is set."""
    target = os.environ.get("REFUNDWATCH_FAULT_REPORT")
    if target:
        _append(Path(target), {"test": name, **entry})
