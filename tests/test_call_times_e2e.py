"""Learned call times through the real stack (dev server, PostgreSQL, sandbox over HTTP): the
watch keeps every call's outcome by the contact's local hour, and a contact's history moves
the call step of its next refund, recorded in the timeline with the reason."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlmodel import col, select

from config.policy_file import load_policy
from db.models import CallOutcomeRecord, Contact, utcnow
from domain.vocabulary import CallOutcome
from tests.harness.stack import LiveStack

DEFAULT_POLICY = load_policy(Path(__file__).parents[1] / "config" / "policy.default.yaml")
SHANGHAI = ZoneInfo("Asia/Shanghai")  # demo.payloads.merchant_body's default time zone
H = timedelta(hours=1)


@pytest.fixture
async def hour_scale_policy(stack: LiveStack) -> AsyncIterator[None]:
    """The default (hours-long) ladder with learned call times on and no quiet hours, for the
    refunds taken in during one test; the session's seconds-long policy is put back after."""
    before = stack.services.policy
    stack.services.policy = replace(DEFAULT_POLICY, quiet_start=None, quiet_end=None)
    yield
    stack.services.policy = before


async def _timeline(stack: LiveStack, refund_id: str) -> list[dict[str, Any]]:
    response = await stack.http.get(f"/v1/refunds/{refund_id}/timeline", headers=stack.support())
    assert response.status_code == 200
    return list(response.json())


async def _contact_id(stack: LiveStack, merchant_id: str) -> int:
    async with stack.services.sessions() as session:
        contact = (
            await session.exec(select(Contact).where(Contact.merchant_id == merchant_id))
        ).one()
        assert contact.id is not None
        return contact.id


async def _cancel(stack: LiveStack, refund_id: str) -> None:
    response = await stack.http.post(
        f"/v1/refunds/{refund_id}/resolution",
        headers=stack.platform(),
        json={"resolution": "cancelled", "event_id": f"ev-{refund_id}"},
    )
    assert response.status_code == 200
    assert await stack.outcome(refund_id) == "resolved"


async def test_each_call_outcome_is_kept_by_the_contacts_local_hour(stack: LiveStack) -> None:
    merchant_id, _ = await stack.merchant(
        [{"calls": [{"answer": "no-answer"}, {"answer": "human", "digits": ["1"]}]}]
    )
    body = stack.refund_body(merchant_id, deadline_in=18)
    assert (await stack.intake(body)).status_code == 201
    refund_id = body["refund_id"]
    await stack.wait_view(refund_id, lambda v: v["merchant_answer"] == "handle_now")
    contact_id = await _contact_id(stack, merchant_id)

    async def kept() -> list[CallOutcomeRecord]:
        async with stack.services.sessions() as session:
            statement = (
                select(CallOutcomeRecord)
                .where(CallOutcomeRecord.contact_id == contact_id)
                .order_by(col(CallOutcomeRecord.called_at))
            )
            return list((await session.exec(statement)).all())

    async def both() -> bool:
        return len(await kept()) == 2

    await stack.wait_for(both, timeout=30)
    rows = await kept()
    assert [r.outcome for r in rows] == [CallOutcome.NO_ANSWER, CallOutcome.HUMAN]
    view = await stack.view(refund_id)
    calls = sorted(
        (a for a in view["attempts"] if a["channel"] == "call"), key=lambda a: a["created_at"]
    )
    for row, attempt in zip(rows, calls, strict=True):
        placed = datetime.fromisoformat(attempt["created_at"]).astimezone(SHANGHAI)
        assert (row.local_hour, row.weekday) == (placed.hour, placed.weekday())
        assert row.merchant_id == merchant_id
    await _cancel(stack, refund_id)


@pytest.mark.usefixtures("hour_scale_policy")
async def test_a_contact_who_always_answers_at_one_hour_gets_its_call_moved_there(
    stack: LiveStack,
) -> None:
    merchant_id, _ = await stack.merchant([{"calls": [{"answer": "no-answer"}]}])
    contact_id = await _contact_id(stack, merchant_id)
    deadline_in = 48 * 3600
    deadline = utcnow() + timedelta(seconds=deadline_in)
    # The default ladder's first call, T-12h scaled for the refund's level (the harness's refund
    # body is critical: an empty package, a large amount).
    planned = (deadline - 12 * H * DEFAULT_POLICY.scaling_for("critical")).astimezone(SHANGHAI)
    best_hour = (planned.hour + 3) % 24
    # Every call at ``best_hour`` answered by a person; the planned hour never answered.
    async with stack.services.sessions() as session:
        for index in range(8):
            answered = index % 2 == 0
            session.add(
                CallOutcomeRecord(
                    idempotency_key=f"history:{merchant_id}:{index}",
                    merchant_id=merchant_id,
                    contact_id=contact_id,
                    called_at=utcnow() - timedelta(days=index + 1),
                    local_hour=best_hour if answered else planned.hour,
                    weekday=0,
                    outcome=CallOutcome.HUMAN if answered else CallOutcome.NO_ANSWER,
                )
            )
        await session.commit()
    body = stack.refund_body(merchant_id, deadline_in=deadline_in)
    assert (await stack.intake(body)).status_code == 201
    refund_id = body["refund_id"]
    await stack.wait_view(refund_id, lambda v: v["stage"] == "in_app_sent")

    timeline = await _timeline(stack, refund_id)
    moves = {e["detail"]["step"]: e["detail"] for e in timeline if e["kind"] == "step.call_time"}
    move = moves["first_call"]
    assert abs(datetime.fromisoformat(move["was"]) - planned) < timedelta(seconds=5)
    moved_to = datetime.fromisoformat(move["at"]).astimezone(SHANGHAI)
    assert (moved_to.hour, moved_to.minute, moved_to.second) == (best_hour, 0, 0)
    assert abs(moved_to - planned) <= timedelta(seconds=DEFAULT_POLICY.call_times.max_shift_s)
    assert f"{best_hour:02d}:00" in move["reason"]
    plan = next(e for e in timeline if e["kind"] == "ladder.planned")
    steps = {s["step"]: s["at"] for s in plan["detail"]["steps"]}
    assert datetime.fromisoformat(steps["first_call"]) == moved_to
    # The final call (T-3h for critical) may move by the prior alone, never past the reserve.
    final_at = datetime.fromisoformat(steps["final_call"])
    reserve = timedelta(seconds=DEFAULT_POLICY.call_times.final_reserve_s)
    assert final_at <= max(deadline - reserve, deadline - 3 * H + timedelta(seconds=5))
    assert list(steps)[-2:] == ["first_call", "final_call"]  # order kept, nothing dropped
    await _cancel(stack, refund_id)


@pytest.mark.usefixtures("hour_scale_policy")
async def test_switched_off_in_the_policy_nothing_moves(stack: LiveStack) -> None:
    stack.services.policy = replace(
        stack.services.policy,
        call_times=replace(stack.services.policy.call_times, enabled=False),
    )
    merchant_id, _ = await stack.merchant([{"calls": [{"answer": "no-answer"}]}])
    contact_id = await _contact_id(stack, merchant_id)
    deadline_in = 48 * 3600
    planned = (utcnow() + timedelta(seconds=deadline_in) - 12 * H).astimezone(SHANGHAI)
    async with stack.services.sessions() as session:
        for index in range(6):
            session.add(
                CallOutcomeRecord(
                    idempotency_key=f"history:{merchant_id}:{index}",
                    merchant_id=merchant_id,
                    contact_id=contact_id,
                    called_at=utcnow() - timedelta(days=index + 1),
                    local_hour=(planned.hour + 2) % 24,
                    weekday=0,
                    outcome=CallOutcome.HUMAN,
                )
            )
        await session.commit()
    body = stack.refund_body(merchant_id, deadline_in=deadline_in)
    assert (await stack.intake(body)).status_code == 201
    await stack.wait_view(body["refund_id"], lambda v: v["stage"] == "in_app_sent")
    timeline = await _timeline(stack, body["refund_id"])
    assert not [e for e in timeline if e["kind"] == "step.call_time"]
    await _cancel(stack, body["refund_id"])
