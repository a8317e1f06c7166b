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
Part 1 is bench/pacing_burst.py, part 2 bench/pacing_rate.py, what both use bench/pacing_common.py;
this module is the command.
"""

from __future__ import annotations

import argparse
import asyncio

from bench.pacing_burst import part_priority
from bench.pacing_common import console
from bench.pacing_rate import part_rate
from config.logging import configure_logging


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--part", choices=["all", "priority", "rate"], default="all")
    parser.add_argument("--db", choices=["postgres", "sqlite"], default="postgres")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument(
        "--seeds", type=int, default=30, help="part 1: ratios over seeds 1..N by rule (0: none)"
    )
    parser.add_argument(
        "--pacer-calls", type=int, default=500, help="part 1: burst size given to the Pacer"
    )
    parser.add_argument("--limits", default="1,5", help="part 2: rates to measure, e.g. 1,5")
    parser.add_argument("--seconds", type=float, default=20.0, help="part 2: per rate")
    args = parser.parse_args()
    configure_logging(level="warning")
    limits = [int(v) for v in args.limits.split(",") if v.strip()]
    if args.part in {"all", "priority"}:
        console.print(f"[bold]Part 1[/]: priority vs FIFO ({args.db})")
        asyncio.run(part_priority(args.db, args.seed, args.seeds, args.pacer_calls))
    if args.part in {"all", "rate"}:
        console.print(f"[bold]Part 2[/]: the rate across two processes ({args.db})")
        asyncio.run(part_rate(args.db, limits, args.seconds))


if __name__ == "__main__":
    main()
