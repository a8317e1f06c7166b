"""The API's own CPU per intake: POST /v1/refunds with no worker running (so nothing else
competes for the cores), beside the bare floor of one request through the same server in the
same run (GET /healthz: the HTTP server, FastAPI, middleware; no auth, no database).
Target: ≤ 4 ms of API CPU per intake.

    .venv/bin/python -m bench.api_cpu                      # 1,500 intakes, 3 rounds each
    .venv/bin/python -m bench.api_cpu --count 500 --rounds 2

Rounds alternate (floor, intake, floor, …) at the same concurrency; CPU is psutil's for the
API process over each round. Each intake is the production path: auth, validation, the
risk score with the merchant's recent amounts, the rows, the workflow start, the started mark.
The watches are started on the dev server but no worker runs them: this measures the API,
not the system (bench.intake_throughput measures that, with the worker).
"""

from __future__ import annotations

import argparse
import asyncio
from typing import Any

import httpx

from bench.intake_throughput import MERCHANTS, intake_round, timed, with_cpu
from bench.report import console, save, summary, table
from bench.stack import bench_stack, create_merchants
from config.settings import DEFAULT_POLICY


async def run(count: int, concurrency: int, rounds: int) -> None:
    tuning = {"REFUNDWATCH_DB_POOL_SIZE": str(concurrency)}
    async with bench_stack(policy=DEFAULT_POLICY, worker=False, env_overrides=tuning) as stack:
        merchants = await create_merchants(stack, MERCHANTS)
        limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
        async with httpx.AsyncClient(headers=stack.platform(), timeout=120, limits=limits) as http:

            async def floor_round() -> dict[str, Any]:
                async def one(_: int) -> None:
                    (await http.get(f"{stack.api_urls[0]}/healthz")).raise_for_status()

                return await timed(count, concurrency, one)

            await with_cpu(stack, intake_round(stack, http, merchants, 100, concurrency))
            results: dict[str, list[dict[str, Any]]] = {"floor": [], "intake": []}
            for _ in range(rounds):
                results["floor"].append(await with_cpu(stack, floor_round()))
                results["intake"].append(
                    await with_cpu(stack, intake_round(stack, http, merchants, count, concurrency))
                )
    api = {name: [r["cpu_ms_per_workflow"]["api0"] for r in runs] for name, runs in results.items()}
    mean = {name: sum(v) / len(v) for name, v in api.items()}
    table(
        f"API CPU per request ({count} per round, concurrency {concurrency}, no worker) — "
        "target ≤ 4 ms per intake",
        ["request", "CPU ms per round", "mean ms", "requests/s (mean)", "latency p50 ms"],
        [[name, " / ".join(f"{v:.2f}" for v in api[name]), mean[name],
          sum(r["rate"] for r in runs) / len(runs),
          summary([r["latency"]["p50"] for r in runs])["p50"] * 1000]
         for name, runs in results.items()],
    )  # fmt: skip
    console.print(
        f"intake {mean['intake']:.2f} ms = floor {mean['floor']:.2f} ms + "
        f"{mean['intake'] - mean['floor']:.2f} ms of our own work per intake"
    )
    save(
        "api_cpu",
        {
            "parameters": {"count": count, "concurrency": concurrency, "rounds": rounds},
            "rounds": results,
            "api_cpu_ms": api,
            "mean_ms": mean,
            "target_ms": 4.0,
        },
        None,
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        prog="python -m bench.api_cpu",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--count", type=int, default=1500)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    asyncio.run(run(args.count, args.concurrency, args.rounds))


if __name__ == "__main__":
    main()
