"""Benchmark 3 — timer precision at scale: N open watches whose (in-app) step falls due across a
few minutes; how late each step happens (notice written − planned time), p50/p99/max. Target:
p99 ≤ 1.5× bare Temporal timers in the same run, none left unrun. In the same run, on the same
dev server and database: N bare Temporal workflows that only sleep until the same due times and
then run one activity (bench/bare_workflow.py, their own worker with the same tuning), and the
baseline a user might otherwise build: an APScheduler job polling a table of due steps.

    .venv/bin/python -m bench.timer_precision --quick         # 1,000 watches over 2 minutes
    .venv/bin/python -m bench.timer_precision                 # 10,000 watches over 3 minutes
    .venv/bin/python -m bench.timer_precision --poll-seconds 10

Watches are started directly (bench/watches.py: rows in bulk, then start_watch) in the order
their steps fall due, all before the first is due; a watch that could not be started before its
own step was due is left out of the figures and counted. Each baseline step is one row of
``bench_poll_steps`` with the same due time; the job marks it fired with clock_timestamp(), row
by row, as a job that sends one message per row would.
"""

from __future__ import annotations

import argparse
import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
from apscheduler.schedulers.asyncio import AsyncIOScheduler

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


class PollingBaseline:
    """APScheduler + a due-steps table, polled every ``interval_s``."""

    def __init__(self, dsn: str, interval_s: float) -> None:
        self._dsn = dsn
        self._interval = interval_s
        self._scheduler = AsyncIOScheduler(timezone="UTC")
        self._pool: asyncpg.Pool | None = None

    async def prepare(self, due: list[datetime]) -> None:
        self._pool = await asyncpg.create_pool(self._dsn, min_size=1, max_size=2)
        async with self._pool.acquire() as conn:
            await conn.execute(
                "CREATE TABLE bench_poll_steps (id bigserial PRIMARY KEY,"
                " due_at timestamptz NOT NULL, fired_at timestamptz)"
            )
            await conn.execute(
                "CREATE INDEX bench_poll_due ON bench_poll_steps (due_at) WHERE fired_at IS NULL"
            )
            await conn.executemany(
                "INSERT INTO bench_poll_steps (due_at) VALUES ($1)", [(d,) for d in due]
            )

    def start(self) -> None:
        self._scheduler.add_job(
            self._poll, "interval", seconds=self._interval, max_instances=1, coalesce=True
        )
        self._scheduler.start()

    async def _poll(self) -> None:
        assert self._pool is not None
        async with self._pool.acquire() as conn, conn.transaction():
            rows = await conn.fetch(
                "SELECT id FROM bench_poll_steps WHERE fired_at IS NULL AND due_at <= now()"
                " ORDER BY due_at FOR UPDATE SKIP LOCKED"
            )
            for row in rows:
                await conn.execute(
                    "UPDATE bench_poll_steps SET fired_at = clock_timestamp() WHERE id = $1",
                    row["id"],
                )

    async def lateness(self) -> tuple[list[float], int]:
        assert self._pool is not None
        async with self._pool.acquire() as conn:
            rows = await conn.fetch("SELECT due_at, fired_at FROM bench_poll_steps")
        fired = [(r["fired_at"] - r["due_at"]).total_seconds() for r in rows if r["fired_at"]]
        return fired, len(rows) - len(fired)

    async def close(self) -> None:
        self._scheduler.shutdown(wait=False)
        if self._pool is not None:
            await self._pool.close()


async def run(
    watches: int, window_s: float, poll_s: float, tuning: dict[str, str], lead: float | None
) -> None:
    async with bench_stack(policy=POLICY, bare_worker=True, env_overrides=tuning) as stack:
        # Time to start every watch and bare timer before the first is due (a watch started
        # after its step was due is left out and counted).
        lead_s = lead if lead is not None else 30 + watches / 10
        first_due = datetime.now(UTC) + timedelta(seconds=lead_s)
        due = [first_due + timedelta(seconds=window_s * i / watches) for i in range(watches)]
        deadlines = [d + BEFORE for d in due]
        console.print(f"inserting {watches} refunds; first step due in {lead_s:.0f} s …")
        ids = await insert_watches(stack, "timer", deadlines)
        dsn = stack.database_url.replace("postgresql+asyncpg://", "postgresql://")
        baseline = PollingBaseline(dsn, poll_s)
        await baseline.prepare(due)

        def note(count: int) -> None:
            console.print(f"  {count} watches started")

        # Both sides start together, interleaved by the event loop, on the same dev server.
        began = datetime.now(UTC)
        rate, bare_ids = await asyncio.gather(
            start_watches(stack, ids, deadlines, POLICY, progress=note),
            start_bare_timers(stack, "timer", due),
        )
        all_started = datetime.now(UTC)  # conservative: every watch was started by then
        bare_rate = watches / (all_started - began).total_seconds()
        console.print(f"started {watches} watches at {rate:.0f}/s and {watches} bare timers")
        baseline.start()
        await asyncio.sleep((due[-1] - datetime.now(UTC)).total_seconds() + 30)
        for _ in range(60):  # stragglers: wait up to a minute more
            ran, bare_ran = await notices(stack, "timer"), await bare_fired(stack, "timer")
            if len(ran) >= watches and len(bare_ran) >= watches:
                break
            await asyncio.sleep(1)
        base_late, base_missing = await baseline.lateness()
        await baseline.close()
        step = max(1, watches // 200)
        parts = await where_late(stack, list(zip(ids, due, strict=True))[::step])
    late_start = sum(1 for d in due if all_started > d)
    counted = [(i, d) for i, d in zip(ids, due, strict=True) if all_started <= d]
    counted_bare = [(b, d) for b, d in zip(bare_ids, due, strict=True) if all_started <= d]
    ours_late, missing = lateness([i for i, _ in counted], [d for _, d in counted], ran)
    bare_late, bare_missing = lateness(
        [b for b, _ in counted_bare], [d for _, d in counted_bare], bare_ran
    )
    ours, bare, theirs = summary(ours_late), summary(bare_late), summary(base_late)

    def ratio(key: str) -> str:
        return f"{ours[key] / bare[key]:.2f}×" if bare.get(key) else "—"

    table(
        f"timer precision: {watches} watches + {watches} bare timers, steps due over "
        f"{window_s:.0f} s, same dev server, same run — target p99 ≤ 1.5× bare, none unrun",
        ["scheduler", "steps", "p50 s", "p99 s", "max s", "not fired"],
        [
            ["refundwatch (watch step)", ours["n"], ours["p50"], ours["p99"], ours["max"],
             missing],
            ["bare Temporal timer + 1 activity", bare["n"], bare["p50"], bare["p99"],
             bare["max"], bare_missing],
            ["refundwatch ÷ bare", "", ratio("p50"), ratio("p99"), ratio("max"), ""],
            [f"APScheduler polling every {poll_s:g} s", theirs["n"], theirs["p50"],
             theirs["p99"], theirs["max"], base_missing],
        ],
    )  # fmt: skip
    table(
        f"where the lateness comes from ({parts['timer fired after due']['n']} sampled histories)",
        ["part", "p50 s", "p99 s", "max s"],
        [[name, v["p50"], v["p99"], v["max"]] for name, v in parts.items()],
    )
    if late_start:
        console.print(f"{late_start} steps were due before every start was done (left out)")

    def draw(axes: Any) -> None:
        labels = ["refundwatch", "bare timers", f"polling {poll_s:g} s"]
        axes.hist([ours_late, bare_late, base_late], bins=60, label=labels,
                  color=["#2b7bba", "#444444", "#bbbbbb"])  # fmt: skip
        axes.set_xlabel("lateness of the step (s)")
        axes.set_ylabel("steps")
        axes.set_yscale("log")
        axes.set_title(f"{watches} watches: p99 {ours['p99']:.2f} s vs bare {bare['p99']:.2f} s")
        axes.legend()

    save(
        "timer_precision" if watches >= 10000 else f"timer_precision_{watches}",
        {
            "parameters": {
                "watches": watches,
                "window_s": window_s,
                "poll_s": poll_s,
                "start_rate_per_s": rate,
                "bare_start_rate_per_s": bare_rate,
                "policy": str(POLICY),
                "worker_tuning": tuning,
            },
            "refundwatch_s": ours,
            "bare_s": bare,
            "ratio_p99": ours["p99"] / bare["p99"] if bare.get("p99") else None,
            "baseline_s": theirs,
            "never_fired": missing,
            "bare_never_fired": bare_missing,
            "baseline_never_fired": base_missing,
            "started_after_due": late_start,
            "breakdown_s": parts,
            "target_ratio_p99": 1.5,
        },
        draw,
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        prog="python -m bench.timer_precision",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--quick", action="store_true", help="1,000 watches over 2 minutes")
    parser.add_argument("--watches", type=int)
    parser.add_argument("--window", type=float, help="seconds over which steps fall due")
    parser.add_argument("--poll-seconds", type=float, default=5.0, help="the baseline's interval")
    parser.add_argument(
        "--lead-seconds", type=float, help="first step due this long after the starts begin"
    )
    add_tuning_arguments(parser)
    args = parser.parse_args()
    watches = args.watches or (1000 if args.quick else 10000)
    window = args.window or (120.0 if args.quick else 180.0)
    asyncio.run(run(watches, window, args.poll_seconds, tuning_env(args), args.lead_seconds))


if __name__ == "__main__":
    main()
