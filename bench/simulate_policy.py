"""The escalation policies the simulation runs: the base policy with its clock compressed.

Every duration written in the file ("24h", "15m": steps before the deadline, call retry
backoff, the gap between steps, the acknowledged reminder, a dispute's evidence window) is
multiplied by the compression and rounded up to whole seconds (the policy format's unit), at
least 1 s. Two things are not compressed:
the call result timeout (a call in the sandbox takes real seconds whatever the clock) and quiet
hours, which are dropped (they are wall-clock hours in the merchant's timezone; a compressed
day would cross them at random). The files are written out and loaded by the real loader,
so they are validated exactly as an operator's policy is.
"""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Any

import yaml

from config.policy_file import load_policy, parse_duration

__all__ = ["ARM_STEPS", "compress_policy", "write_policies"]

# Which channels each workflow arm keeps from the base policy.
ARM_STEPS = {"full": ("in_app", "sms", "call"), "in_app_only": ("in_app",)}
# Durations that measure the provider's latency, not the policy clock.
_REAL_TIME = frozenset({"result_timeout"})
_DURATION = re.compile(r"^\s*\d+(?:\.\d+)?\s*[smhd]\s*$")


def _scaled(value: object, factor: float) -> str:
    return f"{max(1, math.ceil(parse_duration(value) * factor))}s"


def _compress(node: Any, factor: float, channels: tuple[str, ...]) -> Any:
    """Every duration string on the policy clock scaled, every step list (the ladder, and any
    other ladder a newer policy format has, e.g. a dispute's) cut to ``channels``."""
    if isinstance(node, list):
        return [_compress(item, factor, channels) for item in node]
    if not isinstance(node, dict):
        return node
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key == "quiet_hours":
            continue
        if key == "steps" and isinstance(value, list):
            value = [s for s in value if not isinstance(s, dict) or s.get("channel") in channels]
        if isinstance(value, str) and _DURATION.match(value) and key not in _REAL_TIME:
            out[key] = _scaled(value, factor)
        else:
            out[key] = _compress(value, factor, channels)
    return out


def compress_policy(
    raw: dict[str, Any],
    *,
    seconds_per_hour: float,
    call_result_timeout_s: int,
    channels: tuple[str, ...],
    version: str,
) -> dict[str, Any]:
    """The base policy (parsed YAML) on a clock where one hour lasts ``seconds_per_hour``."""
    out: dict[str, Any] = _compress(raw, seconds_per_hour / 3600, channels)
    out["version"] = version
    out["call"] = {**out.get("call", {}), "result_timeout": f"{call_result_timeout_s}s"}
    # The defaults the loader would use (5 min, 2 h) compressed too, when the base omits them.
    out.setdefault("min_step_gap", _scaled("5m", seconds_per_hour / 3600))
    acknowledged = out.setdefault("acknowledged", {})
    acknowledged.setdefault("reminder_before_deadline", _scaled("2h", seconds_per_hour / 3600))
    return out


def write_policies(
    base: Path, out_dir: Path, *, seconds_per_hour: float, call_result_timeout_s: int
) -> dict[str, Path]:
    """One compressed policy file per workflow arm, each validated by ``load_policy``."""
    raw = yaml.safe_load(base.read_text(encoding="utf-8"))
    out_dir.mkdir(parents=True, exist_ok=True)
    paths: dict[str, Path] = {}
    for arm, channels in ARM_STEPS.items():
        version = f"{raw['version']}-sim-{arm}-{seconds_per_hour:g}s-per-h"[:64]
        policy = compress_policy(
            raw,
            seconds_per_hour=seconds_per_hour,
            call_result_timeout_s=call_result_timeout_s,
            channels=channels,
            version=version,
        )
        path = out_dir / f"policy_{arm}.yaml"
        path.write_text(yaml.safe_dump(policy, sort_keys=False), encoding="utf-8")
        load_policy(path)  # the workers will load it the same way; fail here, not there
        paths[arm] = path
    return paths
