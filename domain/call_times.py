"""Learned call times: a call step moves, inside its window, to the hour its contact answers.

Pure and deterministic (used inside the workflow). The ladder planner places the steps; the
watch then asks :func:`place_calls` with the contact's answer odds per local hour, turned
into UTC slots by :func:`hour_slots` in an activity (time zones are the tz database: I/O).

The rules, each of which wins over the odds:

- a call stays between its neighbours, at least ``min_step_gap`` from each, so the ladder's
  order is kept and no step is dropped (the final call stays last);
- never before now, never further than ``max_shift_s`` from where the ladder put it;
- never later than ``final_reserve_s`` before the deadline (the merchant needs time to act on
  the call), and a call the ladder already put later than that does not move later;
- never into quiet hours;
- only when the gain in the chance of an answer is at least ``min_gain``.

A call that moves goes to the start of its best hour (or the earliest moment of it the rules
allow); ties go to the hour nearest the original time. Each move carries its reason.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from domain.answer_odds import HourOdds
from domain.ladder import PlannedStep
from domain.policy import CallTimesPolicy
from domain.vocabulary import Channel

__all__ = ["CallMove", "HourSlot", "hour_slots", "place_calls"]

_WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")


@dataclass(frozen=True)
class HourSlot:
    """One local hour of the contact, as UTC instants, with the chance of an answer in it."""

    start: datetime
    end: datetime
    label: str  # the contact's local time, e.g. "Tue 14:00"
    odds: float
    calls: int = 0  # the contact's own calls in that local hour (0 = the prior alone)


@dataclass(frozen=True)
class CallMove:
    step: str
    was: datetime
    at: datetime
    odds_was: float
    odds_now: float
    reason: str


def hour_slots(
    timezone: str, start: datetime, until: datetime, odds: Sequence[HourOdds]
) -> list[HourSlot]:
    """The contact's local hours overlapping [start, until], each with its hour's odds."""
    if len(odds) != 24:
        raise ValueError("need the odds of every local hour (24)")
    zone = ZoneInfo(timezone)
    local = start.astimezone(zone).replace(minute=0, second=0, microsecond=0)
    slots: list[HourSlot] = []
    while local.astimezone(UTC) < until:
        begin = local.astimezone(UTC)
        end = begin + timedelta(hours=1)  # UTC arithmetic: a DST change never loses an hour
        here = odds[local.hour]
        label = f"{_WEEKDAYS[local.weekday()]} {local:%H}:00"
        slots.append(HourSlot(begin, end, label, here.odds, here.calls))
        local = end.astimezone(zone)
    return slots


def _slot_at(slots: Sequence[HourSlot], at: datetime) -> HourSlot | None:
    return next((s for s in slots if s.start <= at < s.end), None)


def _quiet_end(quiet: Sequence[tuple[datetime, datetime]], at: datetime) -> datetime | None:
    """The end of the quiet window ``at`` falls in (None: not quiet)."""
    return next((end for begin, end in quiet if begin <= at < end), None)


def _earliest_allowed(
    slot: HourSlot,
    lower: datetime,
    upper: datetime,
    quiet: Sequence[tuple[datetime, datetime]],
) -> datetime | None:
    """The earliest moment of ``slot`` inside [lower, upper] and outside quiet hours."""
    at = max(slot.start, lower)
    while at < slot.end and at <= upper:
        end = _quiet_end(quiet, at)
        if end is None:
            return at
        at = end
    return None


def place_calls(
    steps: Sequence[PlannedStep],
    slots: Sequence[HourSlot],
    *,
    now: datetime,
    deadline: datetime,
    quiet: Sequence[tuple[datetime, datetime]],
    min_step_gap: timedelta,
    settings: CallTimesPolicy,
) -> tuple[list[PlannedStep], list[CallMove]]:
    """The steps (in time order) with their call steps moved to better hours; the moves."""
    placed: list[PlannedStep] = []
    moves: list[CallMove] = []
    shift = timedelta(seconds=settings.max_shift_s)
    reserve = deadline - timedelta(seconds=settings.final_reserve_s)
    for index, step in enumerate(steps):
        if step.spec.channel != Channel.CALL or not slots:
            placed.append(step)
            continue
        prev_at = placed[-1].at + min_step_gap if placed else now
        lower = max(now, prev_at, step.at - shift)
        nxt = steps[index + 1] if index + 1 < len(steps) else None
        upper = min(step.at + shift, reserve if reserve > step.at else step.at)
        if nxt is not None:
            upper = min(upper, nxt.at - min_step_gap)
        current = _slot_at(slots, step.at)
        move = _best_move(step, current, slots, lower, upper, quiet, settings.min_gain)
        if move is None:
            placed.append(step)
            continue
        moves.append(move)
        placed.append(replace(step, at=move.at))
    return placed, moves


def _best_move(
    step: PlannedStep,
    current: HourSlot | None,
    slots: Sequence[HourSlot],
    lower: datetime,
    upper: datetime,
    quiet: Sequence[tuple[datetime, datetime]],
    min_gain: float,
) -> CallMove | None:
    if current is None or upper < lower:
        return None
    best: tuple[HourSlot, datetime] | None = None
    for slot in slots:
        if slot.end <= lower or slot.start > upper:
            continue
        at = _earliest_allowed(slot, lower, upper, quiet)
        if at is None:
            continue
        if best is None:
            best = (slot, at)
            continue
        distance = abs((at - step.at).total_seconds())
        best_distance = abs((best[1] - step.at).total_seconds())
        if slot.odds > best[0].odds or (slot.odds == best[0].odds and distance < best_distance):
            best = (slot, at)
    if best is None:
        return None
    slot, at = best
    if slot.odds - current.odds < min_gain or at == step.at:
        return None
    history = f"{slot.calls} of its calls in that hour" if slot.calls else "no calls there yet"
    reason = (
        f"moved to {slot.label} (contact's local time): {slot.odds:.0%} chance of an answer "
        f"there vs {current.odds:.0%} at {current.label} ({history}; prior: published hourly "
        "answer rates)"
    )
    return CallMove(step.spec.name, step.at, at, current.odds, slot.odds, reason)
