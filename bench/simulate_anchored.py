"""The anchored simulation: money saved by four arms under three readings of published figures.

    .venv/bin/python -m bench.simulate_anchored             # 30 seeds x 3 sets x 4 arms, chart
    .venv/bin/python -m bench.simulate_anchored --seeds 5 --refunds 200   # quicker

Arms: no alerts, in-app only, today's fixed ladder, the learned-time ladder (call steps moved by
domain/call_times.py over each contact's history). The model (bench/anchored_model.py) runs the
real planner and call-time code on a drawn population; the parameters and their sources are the
``anchored:`` block of bench/simulate.yaml. Per arm and set: money saved, Twilio cost per 1,000
saved, calls per saved refund, each as the median over seeds with its 95 % interval (2.5th-97.5th
percentile of the per-seed figures), and the learned - fixed difference, paired by seed.
Results: bench/results/simulate_anchored.{json,png}. Same seed range, same file -> same figures.

The dispatcher (who goes first when more calls are due than the rate allows) does not act here:
400 refunds a day never queue at Twilio's 1 call/s. It is measured where it acts, in the burst
benchmark (bench/pacing_priority.py --part priority).
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from bench.anchored_model import ARMS, ArmTotals, run_seed
from bench.simulate_params import load_params
from config.policy_file import load_policy

__all__ = ["figures", "main", "run"]

DEFAULT = Path(__file__).with_name("simulate.yaml")
RESULTS = Path(__file__).with_name("results")
LABELS = {
    "no_alerts": "no alerts",
    "in_app_only": "in-app only",
    "fixed_ladder": "fixed ladder (today)",
    "learned_ladder": "learned-time ladder",
}
console = Console()


def _quantile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return 0.0
    position = q * (len(ordered) - 1)
    low = int(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def _band(values: list[float]) -> dict[str, float]:
    return {
        "median": _quantile(values, 0.5),
        "low": _quantile(values, 0.025),
        "high": _quantile(values, 0.975),
    }


def _per_seed(totals: ArmTotals) -> dict[str, float]:
    saved_usd = totals.saved_cents / 100
    return {
        "saved_usd": saved_usd,
        "saved_share": totals.saved_cents / max(totals.at_risk_cents, 1),
        "twilio_usd": totals.cost_usd,
        "twilio_per_1000_saved": 1000 * totals.cost_usd / saved_usd if saved_usd else 0.0,
        "calls": float(totals.calls),
        "calls_per_saved_refund": totals.calls / totals.saved if totals.saved else 0.0,
        "saved_refunds": float(totals.saved),
        "moved_calls": float(totals.moved_calls),
    }


def run(path: Path, seeds: int | None, refunds: int | None) -> dict[str, Any]:
    sim = load_params(path)
    if sim.anchored is None:
        raise SystemExit(f"{path}: no `anchored:` block")
    model = sim.anchored
    changes: dict[str, Any] = {}
    if seeds is not None:
        changes["seeds"] = seeds
    if refunds is not None:
        changes["refunds"] = refunds
    model = model.model_copy(update=changes)
    policy = load_policy(sim.policy.base)
    started = time.monotonic()
    per_set: dict[str, Any] = {}
    for set_name in model.sets:
        rows: dict[str, list[dict[str, float]]] = {arm: [] for arm in ARMS}
        for seed in range(1, model.seeds + 1):
            for arm, totals in run_seed(sim, model, policy, set_name, seed).items():
                rows[arm].append(_per_seed(totals))
        per_set[set_name] = rows
    return {
        "what": "anchored model simulation: four arms, three parameter sets, seeds 1..N",
        "command": "python -m bench.simulate_anchored"
        + (f" --seeds {seeds}" if seeds else "")
        + (f" --refunds {refunds}" if refunds else ""),
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": f"{platform.machine()}, {platform.python_implementation()} "
        f"{platform.python_version()}, {platform.system()}",
        "runtime_s": round(time.monotonic() - started, 1),
        "seeds": model.seeds,
        "refunds": model.refunds,
        "merchants": model.merchants,
        "parameters": model.model_dump(mode="json"),
        "figures": figures(per_set),
        "per_seed": per_set,
    }


def figures(per_set: dict[str, dict[str, list[dict[str, float]]]]) -> dict[str, Any]:
    """Medians and 95 % intervals per set and arm, and the paired learned - fixed difference."""
    out: dict[str, Any] = {}
    for set_name, rows in per_set.items():
        arms = {arm: {k: _band([r[k] for r in rows[arm]]) for k in rows[arm][0]} for arm in rows}
        fixed, learned = rows["fixed_ladder"], rows["learned_ladder"]
        paired = {
            key: _band([b[key] - a[key] for a, b in zip(fixed, learned, strict=True)])
            for key in ("saved_usd", "calls_per_saved_refund", "twilio_per_1000_saved")
        }
        paired["saved_relative"] = _band(
            [b["saved_usd"] / a["saved_usd"] - 1 for a, b in zip(fixed, learned, strict=True)]
        )
        better = sum(b["saved_usd"] > a["saved_usd"] for a, b in zip(fixed, learned, strict=True))
        paired["seeds_learned_saved_more"] = {"median": better, "low": better, "high": better}
        out[set_name] = {"arms": arms, "learned_minus_fixed": paired}
    return out


def _fmt(band: dict[str, float], digits: int = 0, pct: bool = False) -> str:
    if pct:
        return f"{band['median']:.1%} [{band['low']:.1%}, {band['high']:.1%}]"
    return f"{band['median']:,.{digits}f} [{band['low']:,.{digits}f}, {band['high']:,.{digits}f}]"


def report(result: dict[str, Any]) -> None:
    for set_name, data in result["figures"].items():
        table = Table(title=f"{set_name}: median [95 % interval] over seeds 1-{result['seeds']}")
        for column in ("arm", "saved USD", "saved %", "Twilio per 1,000 saved",
                       "calls per saved refund", "calls"):  # fmt: skip
            table.add_column(column, justify="left" if column == "arm" else "right")
        for arm, bands in data["arms"].items():
            table.add_row(
                LABELS[arm],
                _fmt(bands["saved_usd"]),
                _fmt(bands["saved_share"], pct=True),
                _fmt(bands["twilio_per_1000_saved"], 3),
                _fmt(bands["calls_per_saved_refund"], 2),
                _fmt(bands["calls"]),
            )
        console.print(table)
        diff = data["learned_minus_fixed"]
        console.print(
            f"  learned - fixed (paired by seed): saved {_fmt(diff['saved_usd'])} USD "
            f"({_fmt(diff['saved_relative'], pct=True)}), calls per saved refund "
            f"{_fmt(diff['calls_per_saved_refund'], 3)}; learned saved more in "
            f"{int(diff['seeds_learned_saved_more']['median'])}/{result['seeds']} seeds"
        )
    console.print(f"runtime {result['runtime_s']} s; {result['machine']}")


def chart(result: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    sets = list(result["figures"])
    figure, (money, calls) = plt.subplots(1, 2, figsize=(12, 4.8))
    width = 0.2
    for i, arm in enumerate(ARMS):
        xs = [s + (i - 1.5) * width for s in range(len(sets))]
        for axes, key in ((money, "saved_usd"), (calls, "calls_per_saved_refund")):
            bands = [result["figures"][s]["arms"][arm][key] for s in sets]
            mid = [b["median"] for b in bands]
            err = [[m - b["low"] for m, b in zip(mid, bands, strict=True)],
                   [b["high"] - m for m, b in zip(mid, bands, strict=True)]]  # fmt: skip
            axes.bar(xs, mid, width, yerr=err, capsize=3, label=LABELS[arm])
    for axes, title in ((money, "money saved (USD)"), (calls, "calls per saved refund")):
        axes.set_xticks(range(len(sets)), sets)
        axes.set_title(f"{title}, median and 95 % interval over {result['seeds']} seeds")
        axes.grid(axis="y", alpha=0.3)
    money.legend(fontsize=8)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--params", type=Path, default=DEFAULT)
    parser.add_argument("--seeds", type=int, default=None, help="seeds 1..N (file: 30)")
    parser.add_argument("--refunds", type=int, default=None, help="per seed (file: 400)")
    parser.add_argument("--no-save", action="store_true")
    args = parser.parse_args()
    result = run(args.params, args.seeds, args.refunds)
    report(result)
    if args.no_save:
        return
    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / "simulate_anchored.json"
    out.write_text(json.dumps(result, indent=1, default=str))
    try:
        chart(result, RESULTS / "simulate_anchored.png")
    except ImportError:
        console.print("matplotlib missing: pip install -e '.[bench]' for the chart")
    console.print(f"wrote {out} and the chart beside it")


if __name__ == "__main__":
    main()
