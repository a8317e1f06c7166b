"""Quiet hours: windows from the merchant's time zone, and the planner moving steps out of them."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from pathlib import Path

from config.policy_file import load_policy
from demo.payloads import merchant_body
from domain.ladder import plan_ladder
from domain.quiet_hours import QuietHours, quiet_windows
from tests.harness.stack import LiveStack

POLICY = load_policy(Path(__file__).parents[1] / "config" / "policy.default.yaml")
H = timedelta(hours=1)


def test_windows_follow_the_merchants_clock_across_dst() -> None:
    night = QuietHours("21:00", "08:00")
    shanghai = quiet_windows(
        night,
        "Asia/Shanghai",
        datetime(2026, 11, 23, 8, tzinfo=UTC),
        datetime(2026, 11, 24, 8, tzinfo=UTC),
    )
    assert shanghai[0] == (
        datetime(2026, 11, 23, 13, tzinfo=UTC),
        datetime(2026, 11, 24, 0, tzinfo=UTC),
    )
    # New York leaves DST on 2026-11-01: 21:00 local is 01:00 UTC before, 02:00 UTC after.
    new_york = quiet_windows(
        night,
        "America/New_York",
        datetime(2026, 10, 31, 12, tzinfo=UTC),
        datetime(2026, 11, 2, 12, tzinfo=UTC),
    )
    starts = [w[0] for w in new_york]
    assert datetime(2026, 11, 1, 1, tzinfo=UTC) in starts
    assert datetime(2026, 11, 2, 2, tzinfo=UTC) in starts


def test_sms_moves_before_quiet_hours_and_a_stuck_final_call_still_goes() -> None:
    now = datetime(2026, 11, 23, 10, tzinfo=UTC)
    deadline = now + 48 * H  # SMS at now+24h, first call at now+36h, final call at now+46h
    quiet = [(now + 23 * H, now + 25 * H), (now + 35 * H, now + 48 * H)]
    plan = plan_ladder(POLICY, risk_level="medium", now=now, deadline=deadline, quiet=quiet)
    by_name = {step.spec.name: step for step in plan.steps}
    assert by_name["in_app_notice"].at == now and by_name["in_app_notice"].note is None
    assert by_name["sms_reminder"].at == now + 23 * H - timedelta(seconds=1)
    assert "quiet hours" in (by_name["sms_reminder"].note or "")
    # The first call (now+36h) moves to just before now+35h.
    assert by_name["first_call"].at == now + 35 * H - timedelta(seconds=1)
    # The final call has no earlier room left (the first call is there): it goes anyway.
    assert by_name["final_call"].at == now + 46 * H
    assert "goes out anyway" in (by_name["final_call"].note or "")


def test_a_step_with_no_room_before_quiet_hours_is_skipped_with_reason() -> None:
    now = datetime(2026, 11, 23, 10, tzinfo=UTC)
    quiet = [(now + timedelta(minutes=5), now + 48 * H)]
    plan = plan_ladder(POLICY, risk_level="medium", now=now, deadline=now + 48 * H, quiet=quiet)
    names = [step.spec.name for step in plan.steps]
    assert names[0] == "in_app_notice" and names[1] == "sms_reminder" and names[-1] == "final_call"
    assert [s.spec.name for s in plan.skipped] == ["first_call"]
    assert "quiet hours" in plan.skipped[0].reason


async def test_merchant_quiet_hours_reshape_the_recorded_plan(stack: LiveStack) -> None:
    merchant_id, phones = await stack.merchant([{"calls": [{"answer": "no-answer"}]}])
    now = datetime.now(UTC)
    boundary = datetime.fromtimestamp(math.ceil((now.timestamp() + 5) / 60) * 60, tz=UTC)
    quiet = {"start": f"{boundary:%H:%M}", "end": f"{boundary + timedelta(minutes=30):%H:%M}"}
    response = await stack.http.post(
        "/v1/merchants",
        headers=stack.platform(),
        json=merchant_body(
            merchant_id,
            phones[:1],
            name="Night Owl",
            contact_names=["Owl"],
            timezone="UTC",
            quiet_hours=quiet,
        ),
    )
    assert response.status_code == 200, response.text
    deadline_in = (boundary - now).total_seconds() + 50  # every timed step falls inside quiet time
    body = stack.refund_body(merchant_id, deadline_in=deadline_in)
    assert (await stack.intake(body)).status_code == 201
    refund_id = body["refund_id"]

    await stack.wait_view(refund_id, lambda v: v["stage"] == "in_app_sent")
    timeline = (
        await stack.http.get(f"/v1/refunds/{refund_id}/timeline", headers=stack.support())
    ).json()
    plan = next(e for e in timeline if e["kind"] == "ladder.planned")
    steps = {s["step"]: datetime.fromisoformat(s["at"]) for s in plan["detail"]["steps"]}
    assert steps["sms_reminder"] == boundary - timedelta(seconds=1)
    quiet_events = [e for e in timeline if e["kind"] == "step.quiet_hours"]
    assert {e["detail"]["step"] for e in quiet_events} == {"sms_reminder", "final_call"}
    skipped = [e["detail"] for e in timeline if e["kind"] == "step.skipped"]
    assert [s["step"] for s in skipped] == ["first_call"]
    assert "quiet hours" in skipped[0]["reason"]
    await stack.http.post(
        f"/v1/refunds/{refund_id}/resolution",
        headers=stack.platform(),
        json={"resolution": "cancelled", "event_id": f"ev-{refund_id}"},
    )
