"""Benchmark — capacity: the highest rate of due steps at which p99 lateness stays under 1 s
and no step is left unrun, for refundwatch and for bare Temporal timers with the same worker
tuning, on the same dev server in the same run. Target: refundwatch ≥ 0.8× bare.

    .venv/bin/python -m bench.capacity                          # rates 5,10,20,40/s, 10 s stages
    .venv/bin/python -m bench.capacity --rates 5,10,20,40,80 --stage-seconds 60

Every watch and bare timer of every stage is started first and left to settle (its first task
run) well before its step is due; then the stages come one after another — refundwatch at
rate r, bare at rate r, the next rate … — each ``--stage-seconds`` of steps falling due evenly
at that rate, with ``--gap-seconds`` of quiet after it. A step counts as unrun when it had not
run by the end of its stage's gap.
"""

from __future__ import annotations

import argparse
import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from bench.bursts import (
    add_tuning_arguments,
    bare_fired,
    lateness,
    notices,
    start_bare_timers,
    tuning_env,
    where_late,
)
from bench.report import console, save, summary, table
from bench.stack import bench_stack
from bench.watches import insert_watches, start_watches

POLICY = Path(__file__).resolve().parent / "policies" / "timer.yaml"
BEFORE = timedelta(hours=1)  # the policy's only step, before the deadline
SIDES = ("refundwatch", "bare")


def _stages(
    rates: list[int], stage_s: float, gap_s: float, first: datetime
) -> list[dict[str, Any]]:
    stages = []
    at = first
    for rate in rates:
        for side in SIDES:
            count = max(1, round(rate * stage_s))
            due = [at + timedelta(seconds=stage_s * i / count) for i in range(count)]
            stages.append({"side": side, "rate": rate, "due": due, "prefix": f"cap{side[0]}{rate}"})
            at += timedelta(seconds=stage_s + gap_s)
    return stages


async def run(
    rates: list[int], stage_s: float, gap_s: float, tuning: dict[str, str], lead: float | None
) -> None:
    async with bench_stack(policy=POLICY, bare_worker=True, env_overrides=tuning) as stack:
        total = sum(max(1, round(r * stage_s)) for r in rates) * len(SIDES)
        # Starts ran at 15-40/s on the shared 2-core machine, 65/s on a quiet one.
        lead_s = lead if lead is not None else 30 + total / 15
        stages = _stages(rates, stage_s, gap_s, datetime.now(UTC) + timedelta(seconds=lead_s))
        console.print(f"starting {total} watches and bare timers; first step in {lead_s:.0f} s")
        for stage in stages:
            if stage["side"] == "refundwatch":
                deadlines = [d + BEFORE for d in stage["due"]]
                stage["ids"] = await insert_watches(stack, stage["prefix"], deadlines)
                await start_watches(stack, stage["ids"], deadlines, POLICY)
            else:
                stage["ids"] = await start_bare_timers(stack, stage["prefix"], stage["due"])
        settled = datetime.now(UTC)
        console.print(f"all started; {(stages[0]['due'][0] - settled).total_seconds():.0f} s early")
        end = stages[-1]["due"][-1] + timedelta(seconds=gap_s)
        await asyncio.sleep(max(0.0, (end - datetime.now(UTC)).total_seconds()) + 2)
        results = []
        for stage in stages:
            ran = await (notices if stage["side"] == "refundwatch" else bare_fired)(
                stack, stage["prefix"]
            )
            cutoff = stage["due"][-1] + timedelta(seconds=gap_s)
            in_time = {k: v for k, v in ran.items() if v <= cutoff}
            late, unrun = lateness(stage["ids"], stage["due"], in_time)
            started_late = sum(1 for d in stage["due"] if d < settled)
            s = summary(late)
            ok = started_late == 0 and unrun == 0 and s["n"] > 0 and s["p99"] < 1.0
            result: dict[str, Any] = {
                "side": stage["side"], "rate": stage["rate"], "lateness_s": s, "unrun": unrun,
                "started_after_due": started_late, "meets": ok,
            }  # fmt: skip
            if stage["side"] == "refundwatch":  # where it goes, from ~100 sampled histories
                step = max(1, len(stage["ids"]) // 100)
                sample = list(zip(stage["ids"], stage["due"], strict=True))[::step]
                result["breakdown_s"] = await where_late(stack, sample)
            results.append(result)
    capacity = {
        side: max((r["rate"] for r in results if r["side"] == side and r["meets"]), default=0)
        for side in SIDES
    }
    ratio = capacity["refundwatch"] / capacity["bare"] if capacity["bare"] else None
    table(
        f"capacity ramp: {stage_s:g} s stages, {gap_s:g} s gaps, same dev server, same run "
        "— p99 < 1 s and none unrun",
        ["side", "steps/s", "steps", "p50 s", "p99 s", "max s", "unrun", "meets"],
        [[r["side"], r["rate"], r["lateness_s"]["n"], r["lateness_s"]["p50"],
          r["lateness_s"]["p99"], r["lateness_s"]["max"], r["unrun"],
          "yes" if r["meets"] else "no"] for r in results],
    )  # fmt: skip
    table(
        "where refundwatch's lateness goes (sampled histories): p50 / p99 s",
        ["steps/s", *next(r["breakdown_s"] for r in results if "breakdown_s" in r)],
        [[r["rate"], *(f"{p['p50']} / {p['p99']}" for p in r["breakdown_s"].values())]
         for r in results if "breakdown_s" in r],
    )  # fmt: skip
    ratio_text = f"{ratio:.2f}×" if ratio is not None else "—"
    console.print(
        f"capacity: refundwatch {capacity['refundwatch']} steps/s, bare {capacity['bare']} "
        f"steps/s → {ratio_text} (target ≥ 0.80×; the highest rate tried: {max(rates)})"
    )
    save(
        "capacity",
        {
            "parameters": {"rates": rates, "stage_s": stage_s, "gap_s": gap_s,
                           "worker_tuning": tuning, "policy": str(POLICY)},
            "stages": results,
            "capacity_steps_per_s": capacity,
            "ratio": ratio,
            "target_ratio": 0.8,
        },
        None,
    )  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(
        prog="python -m bench.capacity",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--rates", default="5,10,20,40", help="due steps per second, per stage")
    parser.add_argument("--stage-seconds", type=float, default=10.0)
    parser.add_argument("--gap-seconds", type=float, default=10.0)
    parser.add_argument(
        "--lead-seconds", type=float, help="first step due this long after the starts begin"
    )
    add_tuning_arguments(parser)
    args = parser.parse_args()
    rates = [int(r) for r in args.rates.split(",")]
    asyncio.run(
        run(rates, args.stage_seconds, args.gap_seconds, tuning_env(args), args.lead_seconds)
    )


if __name__ == "__main__":
    main()
