"""What every benchmark prints and saves: a table, JSON with the machine, and a PNG."""

from __future__ import annotations

import json
import math
import os
import platform
import subprocess
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

__all__ = ["RESULTS", "console", "machine", "percentile", "save", "summary", "table"]

RESULTS = Path(__file__).resolve().parent / "results"
console = Console(highlight=False, width=120)


def percentile(values: Sequence[float], q: float) -> float:
    """The q-th percentile (0–100), nearest-rank: a value that was actually measured."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[rank - 1]


def summary(values: Sequence[float]) -> dict[str, float]:
    return {
        "n": len(values),
        "p50": percentile(values, 50),
        "p99": percentile(values, 99),
        "max": max(values) if values else math.nan,
        "mean": sum(values) / len(values) if values else math.nan,
    }


def _memory_gib() -> float:
    with open("/proc/meminfo", encoding="ascii") as meminfo:
        for line in meminfo:
            if line.startswith("MemTotal:"):
                return round(int(line.split()[1]) / 1024**2, 1)
    return math.nan


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _temporal_version() -> str:
    from demo.processes import temporal_binary

    try:
        out = subprocess.run(  # noqa: S603 (our own binary)
            [temporal_binary(), "--version"], capture_output=True, text=True, timeout=10
        )
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return out.stdout.strip() or "unknown"


def machine() -> dict[str, Any]:
    return {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "nproc": os.cpu_count(),
        "memory_gib": _memory_gib(),
        "cpu": _cpu_model(),
        "python": platform.python_version(),
        "temporal_cli": _temporal_version(),
    }


def table(title: str, columns: Sequence[str], rows: Sequence[Sequence[object]]) -> None:
    out = Table(title=title)
    for column in columns:
        out.add_column(column, justify="right" if column != columns[0] else "left")
    for row in rows:
        out.add_row(*(_cell(value) for value in row))
    console.print(out)


def _cell(value: object) -> str:
    if isinstance(value, float):
        return f"{value:,.3f}" if abs(value) < 10 else f"{value:,.1f}"
    return str(value)


def save(name: str, data: dict[str, Any], draw: Callable[[Any], None] | None = None) -> None:
    """bench/results/<name>.json, and <name>.png drawn by ``draw(axes)`` when matplotlib is
    installed (pip install -e '.[bench]')."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    payload = {"benchmark": name, "machine": machine(), **data}
    (RESULTS / f"{name}.json").write_text(json.dumps(payload, indent=2, default=str) + "\n")
    console.print(f"saved {RESULTS / name}.json", end="")
    if draw is None:
        console.print()
        return
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        console.print(" (no PNG: pip install -e '.[bench]' for matplotlib)")
        return
    figure, axes = plt.subplots(figsize=(8, 4.5), dpi=110)
    draw(axes)
    figure.tight_layout()
    figure.savefig(RESULTS / f"{name}.png")
    plt.close(figure)
    console.print(f" and {name}.png")
