"""The sizing guide's arithmetic (docs/operations.md, "Sizing"), from measured costs.

    .venv/bin/python -m bench.sizing                        # bench/results/step_cost*.json
    .venv/bin/python -m bench.sizing --results bench/results/step_cost_10.json --peak 10

Every tracked refund is taken as a whole full-ladder watch that times out (the dearest life:
in-app, SMS, a call and its retry, a final call; most watches end sooner), and a day's refunds
as arriving at ``peak`` times the day's average rate for the busiest hour. CPU is per process
kind, as measured on the dev server (Temporal on SQLite): a Temporal cluster on PostgreSQL or
Cassandra spends its CPU differently (more in the database, spread over services), so its
figure is the order of magnitude to plan from, then to measure on the real cluster.
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path
from typing import Any

from bench.report import RESULTS, console, table

DAY_S = 86400
SIZES = (10_000, 100_000, 1_000_000)
TARGET_UTILISATION = 0.6  # of a core, per process, at the peak: room for bursts and restarts
RETENTION_DAYS = 30  # the namespace retention deploy/temporal-setup.sh sets


def _latest(pattern: str) -> Path:
    paths = sorted(RESULTS.glob(pattern), key=lambda p: p.stat().st_mtime)
    if not paths:
        raise SystemExit(f"no {pattern} in {RESULTS}: run python -m bench.step_cost first")
    return paths[-1]


def size(cost: dict[str, Any], intake_api_ms: float | None, peak: float) -> list[list[Any]]:
    full = cost["groups"]["full ladder"]
    counts, cpu = full["counts"], full["cpu_ms"]
    worker_ms = float(cpu.get("worker", 0.0))
    server_ms = float(cpu.get("temporal", 0.0))
    api_ms = float(cpu.get("api0", 0.0)) + float(intake_api_ms or 0.0)
    db_ms = float(next((v for k, v in cpu.items() if k.startswith("postgres")), 0.0))
    rows = []
    for per_day in SIZES:
        rate = per_day / DAY_S * peak  # watches per second in the peak hour
        workers = max(2, math.ceil(rate * worker_ms / 1000 / TARGET_UTILISATION))
        apis = max(2, math.ceil(rate * api_ms / 1000 / TARGET_UTILISATION))
        events = rate * float(counts["history events"])
        history_gb = per_day * float(counts["history bytes"]) * RETENTION_DAYS / 1e9
        shards = 512 if per_day <= 100_000 else 4096
        rows.append(
            [f"{per_day:,}", round(rate, 2), workers, apis,
             round(rate * server_ms / 1000, 1), shards, round(events),
             round(rate * float(counts["workflow tasks"]), 1), round(history_gb, 1),
             round(rate * db_ms / 1000, 2)]
        )  # fmt: skip
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(
        prog="python -m bench.sizing",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--results", type=Path, help="a step_cost JSON (default: the newest)")
    parser.add_argument("--intake", type=Path, help="an intake_throughput JSON (API ms/intake)")
    parser.add_argument("--peak", type=float, default=10.0, help="peak hour ÷ average")
    args = parser.parse_args()
    cost = json.loads((args.results or _latest("step_cost*.json")).read_text())
    intake_path = args.intake or RESULTS / "intake_throughput.json"
    intake = json.loads(intake_path.read_text()) if intake_path.exists() else {}
    rows = size(cost, intake.get("api_cpu_ms_per_intake"), args.peak)
    table(
        f"sizing for a {args.peak:g}× peak, full-ladder watches, processes at "
        f"{TARGET_UTILISATION:.0%} of a core at the peak",
        ["refunds/day", "peak watches/s", "worker processes", "API processes",
         "Temporal CPU cores (dev-server measure)", "history shards", "history events/s",
         "workflow tasks/s", f"history GB ({RETENTION_DAYS} d retention)",
         "refundwatch DB cores"],
        rows,
    )  # fmt: skip
    console.print(f"from {cost['parameters']} measured {cost['machine'].get('date', '')}")


if __name__ == "__main__":
    main()
