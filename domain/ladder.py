"""Placing the escalation ladder on the clock. Pure and deterministic: used inside the workflow.

The policy gives each step an offset before the deadline, written for a comfortable window.
``plan_ladder`` scales the offsets by risk, then, when the refund arrived late, compresses them
proportionally into the time that is left so every channel still gets its turn. A step that
cannot fit at least ``min_step_gap`` after the one before it is skipped, with its reason; the
last step (the final call) is never dropped while any time is left.

Quiet hours (UTC windows computed by the API from the merchant's time zone) then move SMS and
call steps that would fall inside them to just before the window; if no earlier time is left,
the step is skipped with its reason, except the final call, which goes out anyway, noted.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from domain.policy import EscalationPolicy, StepSpec

__all__ = ["LadderPlan", "PlannedStep", "SkippedStep", "plan_ladder"]


@dataclass(frozen=True)
class PlannedStep:
    spec: StepSpec
    at: datetime
    compressed: bool = False
    note: str | None = None  # why the step is not where the policy put it (quiet hours)


@dataclass(frozen=True)
class SkippedStep:
    spec: StepSpec
    reason: str


@dataclass(frozen=True)
class LadderPlan:
    steps: list[PlannedStep]
    skipped: list[SkippedStep]
    compression: float  # 1.0 = placed as written; < 1.0 = squeezed into the time left


def _human(delta: timedelta) -> str:
    seconds = max(0, int(delta.total_seconds()))
    if seconds >= 3600:
        return f"{seconds / 3600:.1f} h"
    if seconds >= 60:
        return f"{seconds // 60} min"
    return f"{seconds} s"


def plan_ladder(
    policy: EscalationPolicy,
    *,
    risk_level: str,
    now: datetime,
    deadline: datetime,
    done: frozenset[str] = frozenset(),
    quiet: Sequence[tuple[datetime, datetime]] = (),
) -> LadderPlan:
    """Place the steps not yet ``done`` between ``now`` and ``deadline``."""
    pending = [spec for spec in policy.steps if spec.name not in done]
    left = deadline - now
    if left <= timedelta(0):
        reason = "deadline already passed"
        return LadderPlan([], [SkippedStep(spec, reason) for spec in pending], 1.0)

    factor = policy.scaling_for(risk_level)
    gap = timedelta(seconds=policy.min_step_gap_s)
    offsets = {
        spec.name: timedelta(seconds=spec.before_deadline_s * factor)
        for spec in pending
        if spec.before_deadline_s is not None
    }
    # The earliest timed step must land one gap after intake; squeeze everything if it cannot.
    usable = left - gap if left > gap else left / 2
    longest = max(offsets.values(), default=timedelta(0))
    compression = min(1.0, usable / longest) if longest > timedelta(0) else 1.0

    candidates: list[PlannedStep] = []
    for spec in pending:
        if spec.before_deadline_s is None:
            candidates.append(PlannedStep(spec, now))
        else:
            at = deadline - offsets[spec.name] * compression
            candidates.append(PlannedStep(spec, at, compressed=compression < 1.0))
    candidates.sort(key=lambda step: step.at)

    steps: list[PlannedStep] = []
    skipped: list[SkippedStep] = []
    last_at: datetime | None = None
    final = candidates[-1] if candidates else None
    for step in candidates:
        is_intake = step.spec.before_deadline_s is None
        fits = is_intake or last_at is None or step.at - last_at >= gap
        if step is final and not fits:
            # Never drop the last call: move it as late as the gap allows, inside the deadline.
            latest = deadline - timedelta(seconds=1)
            moved = min(max(step.at, (last_at or now) + gap), latest)
            step = PlannedStep(step.spec, max(moved, now), compressed=True)
            fits = True
        if fits:
            steps.append(step)
            last_at = step.at
        else:
            skipped.append(
                SkippedStep(
                    step.spec,
                    f"no room before the deadline: {_human(left)} left when planned, "
                    f"steps must be {_human(gap)} apart",
                )
            )
    if quiet:
        steps = _respect_quiet_hours(steps, skipped, quiet, now, final)
    return LadderPlan(steps, skipped, compression)


def _respect_quiet_hours(
    steps: list[PlannedStep],
    skipped: list[SkippedStep],
    quiet: Sequence[tuple[datetime, datetime]],
    now: datetime,
    final: PlannedStep | None,
) -> list[PlannedStep]:
    placed: list[PlannedStep] = []
    for step in steps:
        window = next((w for w in quiet if w[0] <= step.at < w[1]), None)
        if step.spec.channel == "in_app" or window is None:
            placed.append(step)
            continue
        earlier = window[0] - timedelta(seconds=1)
        floor = placed[-1].at if placed else now
        if earlier > floor:
            note = f"moved earlier out of quiet hours (was {step.at.isoformat()})"
            placed.append(replace(step, at=earlier, note=note))
        elif final is not None and step.spec is final.spec:
            note = "only quiet hours are left before the deadline: the final call goes out anyway"
            placed.append(replace(step, note=note))
        else:
            reason = "falls in the merchant's quiet hours and no earlier time is left"
            skipped.append(SkippedStep(step.spec, reason))
    return placed
