"""Learned call times, the pure half: answer odds per hour (Beta-Binomial over the published
curve) and call steps moving inside their window. The watch's half is in
tests/test_call_times_e2e.py."""

from __future__ import annotations

import itertools
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from config.policy_file import load_policy
from domain.answer_odds import (
    PHONEBURNER_HOURLY,
    PRIOR_CURVES,
    HourTally,
    call_outcome,
    hour_odds,
    prior_curve,
    tally,
)
from domain.call_times import hour_slots, place_calls
from domain.ladder import plan_ladder
from domain.quiet_hours import QuietHours, quiet_windows
from domain.vocabulary import CallOutcome

POLICY = load_policy(Path(__file__).parents[1] / "config" / "policy.default.yaml")
SHANGHAI = ZoneInfo("Asia/Shanghai")
H = timedelta(hours=1)
SETTINGS = replace(POLICY.call_times, enabled=True)


def _always_at_14() -> list[HourTally]:
    """Picked up every call at 14:00, never at 10:00 or 11:00."""
    return tally(
        [(14, CallOutcome.HUMAN)] * 6
        + [(10, CallOutcome.NO_ANSWER)] * 4
        + [(11, CallOutcome.VOICEMAIL)] * 3
    )


def _plan(now: datetime, deadline: datetime, quiet: list[tuple[datetime, datetime]]):  # type: ignore[no-untyped-def]
    plan = plan_ladder(POLICY, risk_level="medium", now=now, deadline=deadline, quiet=quiet)
    return plan.steps


def _local(at: datetime) -> datetime:
    return at.astimezone(SHANGHAI)


def test_the_prior_is_the_published_curve_scaled_by_the_identified_caller_ratio() -> None:
    raw = PRIOR_CURVES["phoneburner"]
    assert raw[10] == pytest.approx(0.1553) and raw[6] == pytest.approx(0.0231)
    assert raw[14] == pytest.approx(0.1501) and raw[21] == pytest.approx(0.1209)
    assert raw[3] == min(PHONEBURNER_HOURLY.values())  # unpublished night hours: the floor
    ours = PRIOR_CURVES["phoneburner_hiya"]
    assert ours[10] == pytest.approx(0.1553 * 0.53 / 0.24)
    assert max(range(24), key=lambda h: ours[h]) == 10
    assert max(prior_curve(10.0)) == 0.95  # capped: no hour is certain


def test_the_contacts_own_calls_outweigh_the_prior_hour_by_hour() -> None:
    odds = hour_odds(_always_at_14(), PRIOR_CURVES["phoneburner_hiya"], prior_weight=4)
    prior = PRIOR_CURVES["phoneburner_hiya"]
    assert odds[14].odds == pytest.approx((4 * prior[14] + 6) / 10)
    assert odds[10].odds == pytest.approx(4 * prior[10] / 8)
    assert odds[11].odds < prior[11]  # a voicemail is not an answer
    assert odds[16].odds == pytest.approx(prior[16]) and odds[16].calls == 0
    assert max(odds, key=lambda o: o.odds).hour == 14


def test_final_reports_map_to_what_is_learned() -> None:
    assert call_outcome("completed", "human") == CallOutcome.HUMAN
    assert call_outcome("completed", None) == CallOutcome.HUMAN
    assert call_outcome("completed", "machine") == CallOutcome.VOICEMAIL
    assert call_outcome("busy", None) == CallOutcome.BUSY
    assert call_outcome("no-answer", None) == CallOutcome.NO_ANSWER
    assert call_outcome("failed", None) is None  # says nothing about the person called


def test_a_contact_who_always_answers_at_14_gets_its_call_moved_there() -> None:
    # Deadline Wed 23:00 Shanghai: first call at T-12h = 11:00 local, final call 21:00 local.
    deadline = datetime(2026, 11, 25, 23, tzinfo=SHANGHAI).astimezone(UTC)
    now = deadline - 48 * H
    steps = _plan(now, deadline, [])
    first = next(s for s in steps if s.spec.name == "first_call")
    assert _local(first.at).hour == 11
    odds = hour_odds(_always_at_14(), PRIOR_CURVES["phoneburner_hiya"], 4)
    slots = hour_slots("Asia/Shanghai", now, deadline, odds)
    placed, moves = place_calls(
        steps,
        slots,
        now=now,
        deadline=deadline,
        quiet=[],
        min_step_gap=10 * 60 * 1 * timedelta(seconds=1),
        settings=SETTINGS,
    )
    moved = next(s for s in placed if s.spec.name == "first_call")
    assert _local(moved.at) == datetime(2026, 11, 25, 14, tzinfo=SHANGHAI)
    [move] = [m for m in moves if m.step == "first_call"]
    assert "Wed 14:00" in move.reason and move.odds_now > move.odds_was + SETTINGS.min_gain
    assert [s.spec.name for s in placed] == [s.spec.name for s in steps]  # order and count kept
    assert all(b.at - a.at >= 10 * timedelta(minutes=1) for a, b in itertools.pairwise(placed))


def test_no_move_without_enough_gain_or_when_switched_off() -> None:
    deadline = datetime(2026, 11, 25, 23, tzinfo=SHANGHAI).astimezone(UTC)
    now = deadline - 48 * H
    steps = _plan(now, deadline, [])
    odds = hour_odds([], PRIOR_CURVES["phoneburner_hiya"], 4)  # no history: the prior alone
    slots = hour_slots("Asia/Shanghai", now, deadline, odds)
    gap = timedelta(minutes=10)
    placed, moves = place_calls(
        steps,
        slots,
        now=now,
        deadline=deadline,
        quiet=[],
        min_step_gap=gap,
        settings=replace(SETTINGS, min_gain=0.5),
    )
    assert moves == [] and placed == list(steps)


def test_quiet_hours_win_over_the_best_hour() -> None:
    # The contact answers only at 22:00, inside quiet hours (21:00-08:00): the call stays out.
    deadline = datetime(2026, 11, 25, 23, tzinfo=SHANGHAI).astimezone(UTC)
    now = deadline - 48 * H
    quiet = quiet_windows(QuietHours("21:00", "08:00"), "Asia/Shanghai", now, deadline)
    steps = _plan(now, deadline, quiet)
    night = tally([(22, CallOutcome.HUMAN)] * 10 + [(11, CallOutcome.NO_ANSWER)] * 3)
    slots = hour_slots(
        "Asia/Shanghai", now, deadline, hour_odds(night, PRIOR_CURVES["phoneburner_hiya"], 4)
    )
    placed, _moves = place_calls(
        steps,
        slots,
        now=now,
        deadline=deadline,
        quiet=quiet,
        min_step_gap=timedelta(minutes=10),
        settings=SETTINGS,
    )
    for step in placed:
        if step.spec.channel == "call" and step.note is None:
            assert not any(a <= step.at < b for a, b in quiet), step
    assert all(_local(s.at).hour != 22 for s in placed if s.spec.channel == "call")


def test_the_deadline_wins_and_the_final_call_is_never_dropped() -> None:
    # Deadline 13:30 local; the contact answers at 14:00 only: the final call may not go there.
    deadline = datetime(2026, 11, 25, 13, 30, tzinfo=SHANGHAI).astimezone(UTC)
    now = deadline - 48 * H
    steps = _plan(now, deadline, [])
    slots = hour_slots(
        "Asia/Shanghai",
        now,
        deadline,
        hour_odds(_always_at_14(), PRIOR_CURVES["phoneburner_hiya"], 4),
    )
    placed, _ = place_calls(
        steps,
        slots,
        now=now,
        deadline=deadline,
        quiet=[],
        min_step_gap=timedelta(minutes=10),
        settings=SETTINGS,
    )
    final = placed[-1]
    assert final.spec.name == "final_call"
    reserve = timedelta(seconds=SETTINGS.final_reserve_s)
    assert final.at <= max(deadline - reserve, steps[-1].at)
    assert all(s.at < deadline for s in placed)
    # A call already later than the reserve (a late refund, compressed) never moves later.
    late_deadline = now + 40 * timedelta(minutes=1)
    late = _plan(now, late_deadline, [])
    late_slots = hour_slots(
        "Asia/Shanghai",
        now,
        late_deadline,
        hour_odds(_always_at_14(), PRIOR_CURVES["phoneburner_hiya"], 4),
    )
    late_placed, _ = place_calls(
        late,
        late_slots,
        now=now,
        deadline=late_deadline,
        quiet=[],
        min_step_gap=timedelta(minutes=1),
        settings=SETTINGS,
    )
    assert late_placed[-1].spec.name == "final_call"
    assert late_placed[-1].at <= late[-1].at


def test_hour_slots_follow_the_contacts_clock_across_dst() -> None:
    odds = hour_odds([], PRIOR_CURVES["phoneburner_hiya"], 4)
    start = datetime(2026, 11, 1, 4, tzinfo=UTC)  # New York leaves DST at 06:00 UTC
    slots = hour_slots("America/New_York", start, start + 4 * H, odds)
    labels = [s.label for s in slots]
    assert labels == ["Sun 00:00", "Sun 01:00", "Sun 01:00", "Sun 02:00"]
    assert all(b.start == a.end for a, b in itertools.pairwise(slots))
