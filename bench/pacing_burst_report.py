"""The burst benchmark's report: the table, the ratios and the chart (bench/pacing_burst.py)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.table import Table

from bench.pacing_common import console

if TYPE_CHECKING:
    from bench.pacing_burst import Score

__all__ = ["plot_priority", "print_priority"]


def _money(minor: float) -> str:
    return f"{minor / 100:,.0f}"


def print_priority(
    result: dict[str, Any], scores: Sequence[Score], constant: Sequence[Score]
) -> None:
    calls, rate = result["calls"], result["calls_per_second"]
    table = Table(title=f"{calls} calls due at once, {rate} call/s")
    table.add_column("order", no_wrap=True)
    table.add_column("calls in time", justify="right")
    table.add_column("amount called in time", justify="right")
    table.add_column("kept off the loss ledger*", justify="right")
    table.add_column("expected loss prevented*", justify="right")
    table.add_column("prevented at p = 0.6", justify="right")
    for s, c in zip(scores, constant, strict=False):
        table.add_row(
            s.label,
            f"{s.calls_in_time} / {calls}",
            _money(s.amount_called_in_time_minor),
            _money(s.ledger_kept_minor),
            _money(s.loss_prevented_minor),
            _money(c.loss_prevented_minor),
        )
    bound = constant[-1]
    table.add_row(bound.label, f"{bound.calls_in_time} / {calls}", _money(
        bound.amount_called_in_time_minor), "", "", _money(bound.loss_prevented_minor))  # fmt: skip
    console.print(table)
    simulated = result["simulated"]
    console.print(f"* {simulated['outcome']}")
    console.print(f"Simulated: the clock ({simulated['clock']}); {simulated['calls']}.")
    console.print(f"Real: {result['real']} ({result['database']}).")
    console.print(
        f"Pacer grant order = priority ranking: {result['pacer_order_matches_priority_ranking']}"
        f"; = recomputed greedy: {result['pacer_order_matches_recomputed_greedy']}"
        f"; FIFO kept arrival order: {result['pacer_fifo_keeps_arrival_order']}"
    )
    console.print(
        f"[bold]worth now / FIFO: {result['ratio_loss_prevented_worth_vs_fifo']:.2f}x expected "
        f"loss prevented[/] (priority_for / FIFO: "
        f"{result['ratio_loss_prevented_priority_vs_fifo']:.2f}x; at p = 0.6 constant "
        f"{result['ratio_loss_prevented_priority_vs_fifo_p06']:.2f}x)"
    )
    if "sweep" in result:
        sweep_ = result["sweep"]
        for key, band in sweep_["summary"].items():
            console.print(
                f"  seeds 1-{sweep_['seeds']} {key}: median {band['median']:.3f}x "
                f"(min {band['min']:.3f}, max {band['max']:.3f})"
            )


def plot_priority(scores: Sequence[Score], path: Path, calls_per_second: int = 1) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(figsize=(8, 4.5))
    for s in scores:
        minutes = [k / calls_per_second / 60 for k in range(len(s.cumulative))]
        axes.plot(minutes, [v / 100 for v in s.cumulative], label=s.label)
    axes.set_xlabel("minutes after the burst (simulated; one call per second)")
    axes.set_ylabel("expected loss prevented (currency units)")
    axes.set_title(f"{len(scores[0].cumulative)} due calls at {calls_per_second}/s: who goes first")
    axes.legend()
    axes.grid(alpha=0.3)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
