"""The ladder planner: placement, risk scaling, compression of late refunds, skips."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from pathlib import Path

from config.policy_file import load_policy
from domain.ladder import plan_ladder

POLICY = load_policy(Path(__file__).parents[1] / "config" / "policy.default.yaml")
NOW = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)
H = timedelta(hours=1)


def _times(plan: object) -> dict[str, timedelta]:
    return {step.spec.name: step.at - NOW for step in plan.steps}  # type: ignore[attr-defined]


def test_48h_deadline_places_the_default_ladder_as_written() -> None:
    plan = plan_ladder(POLICY, risk_level="medium", now=NOW, deadline=NOW + 48 * H)
    assert _times(plan) == {
        "in_app_notice": timedelta(0),
        "sms_reminder": 24 * H,
        "first_call": 36 * H,
        "final_call": 46 * H,
    }
    assert plan.skipped == []
    assert plan.compression == 1.0


def test_higher_risk_reaches_the_merchant_earlier() -> None:
    medium = _times(plan_ladder(POLICY, risk_level="medium", now=NOW, deadline=NOW + 48 * H))
    critical = _times(plan_ladder(POLICY, risk_level="critical", now=NOW, deadline=NOW + 48 * H))
    for step in ("sms_reminder", "first_call", "final_call"):
        assert critical[step] < medium[step]
    assert critical["sms_reminder"] == 48 * H - 36 * H  # 24 h × 1.5 before the deadline


def test_late_refund_compresses_every_channel_into_the_time_left() -> None:
    plan = plan_ladder(POLICY, risk_level="medium", now=NOW, deadline=NOW + 6 * H)
    times = _times(plan)
    assert list(times) == ["in_app_notice", "sms_reminder", "first_call", "final_call"]
    assert plan.compression < 1.0
    # Order and proportions kept, all inside the window, the gap respected.
    assert timedelta(0) < times["sms_reminder"] < times["first_call"] < times["final_call"] < 6 * H
    ordered = list(times.values())
    assert all(b - a >= timedelta(minutes=10) for a, b in itertools.pairwise(ordered))


def test_too_little_time_skips_steps_with_a_reason_but_keeps_the_final_call() -> None:
    plan = plan_ladder(POLICY, risk_level="medium", now=NOW, deadline=NOW + timedelta(minutes=25))
    names = [step.spec.name for step in plan.steps]
    assert names[0] == "in_app_notice"
    assert names[-1] == "final_call"
    assert plan.skipped, "something must give when only 25 minutes are left"
    assert all("no room before the deadline" in skip.reason for skip in plan.skipped)
    assert all(step.at < NOW + timedelta(minutes=25) for step in plan.steps)


def test_replanning_leaves_out_done_steps_and_passed_deadline_skips_all() -> None:
    plan = plan_ladder(
        POLICY,
        risk_level="medium",
        now=NOW,
        deadline=NOW + 30 * H,
        done=frozenset({"in_app_notice", "sms_reminder"}),
    )
    assert [s.spec.name for s in plan.steps] == ["first_call", "final_call"]
    gone = plan_ladder(POLICY, risk_level="medium", now=NOW, deadline=NOW - H)
    assert gone.steps == []
    assert {s.reason for s in gone.skipped} == {"deadline already passed"}
