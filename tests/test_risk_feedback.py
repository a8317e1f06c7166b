"""Risk feedback on the real stack: the activity records how a refund ended per buyer and device
(PostgreSQL), and the next refund from that buyer or device scores higher through the API.

The workflow does not call `record_risk_feedback` yet: these tests run the activity themselves
(in Temporal's ActivityEnvironment) where the end of a watch will.
"""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import update
from sqlmodel import col, select
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from activities.risk_feedback import RiskFeedbackActivities, feedback_outcomes
from activities.types import RiskFeedbackInput
from db.models import BuyerOutcome, utcnow
from risk import BuyerHistory, OutcomeCounts, PriorOutcome
from risk.outcome_store import load_history
from tests.harness.stack import LiveStack

UPHELD = PriorOutcome.DISPUTE_UPHELD
REJECTED = PriorOutcome.REFUND_REJECTED


def _id(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


async def _feedback(stack: LiveStack, item: RiskFeedbackInput) -> None:
    activities = RiskFeedbackActivities(stack.services.sessions)
    await ActivityEnvironment().run(activities.record_risk_feedback, item)


async def _rows(stack: LiveStack, refund_id: str) -> set[tuple[str, str, str]]:
    async with stack.services.sessions() as session:
        statement = select(BuyerOutcome).where(BuyerOutcome.refund_id == refund_id)
        rows = (await session.exec(statement)).all()
    return {(row.subject_kind, row.subject_id, row.outcome) for row in rows}


async def _untracked(stack: LiveStack, merchant_id: str, signals: dict[str, Any]) -> str:
    """A small clean refund: stored and scored, no watch started."""
    body = stack.refund_body(merchant_id, amount="10.00", deadline_in=3600, signals=signals)
    response = await stack.intake(body)
    assert response.status_code == 201, response.text
    assert response.json()["tracked"] is False
    refund_id: str = body["refund_id"]
    return refund_id


async def _history(
    stack: LiveStack, buyer_id: str | None, device_id: str | None, days: int = 180
) -> BuyerHistory:
    async with stack.services.sessions() as session:
        return await load_history(session, buyer_id, device_id, utcnow() - timedelta(days=days))


async def _cancel(stack: LiveStack, refund_id: str) -> None:
    response = await stack.http.post(
        f"/v1/refunds/{refund_id}/resolution",
        headers=stack.platform(),
        json={"resolution": "cancelled", "event_id": f"cleanup-{refund_id}"},
    )
    assert response.status_code == 200, response.text


# --- the mapping (pure) -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("outcome", "resolution", "answer", "recorded"),
    [
        ("timed_out", None, None, [PriorOutcome.TIMED_OUT]),
        ("timed_out", "approved", "dispute", [PriorOutcome.TIMED_OUT]),
        ("evidence_missed", None, "dispute", [PriorOutcome.EVIDENCE_MISSED]),
        ("resolved", "rejected", None, [REJECTED]),
        ("resolved", "rejected", "handle_now", [REJECTED]),
        ("resolved", "rejected", "dispute", [REJECTED, UPHELD]),
        ("resolved", "rejected", "reject", [REJECTED, UPHELD]),
        ("resolved", "approved", "dispute", [PriorOutcome.HANDLED]),
        ("resolved", "cancelled", None, [PriorOutcome.HANDLED]),
        ("resolved", None, None, []),
        ("resolved", "escalated", None, []),
        ("acknowledged", None, None, []),
    ],
)
def test_how_a_watch_ended_maps_to_the_risk_gates_outcomes(
    outcome: str, resolution: str | None, answer: str | None, recorded: list[PriorOutcome]
) -> None:
    assert feedback_outcomes(outcome, resolution, answer) == recorded


# --- the activity against PostgreSQL ----------------------------------------------------------


async def test_the_activity_records_each_outcome_per_buyer_and_device_once(
    stack: LiveStack,
) -> None:
    merchant_id, _ = await stack.merchant([{}])
    buyer, device = _id("b"), _id("d")
    refund_id = await _untracked(stack, merchant_id, {"buyer_id": buyer, "device_id": device})
    item = RiskFeedbackInput(refund_id, "resolved", resolution="rejected", answer="dispute")
    await _feedback(stack, item)
    await _feedback(stack, item)  # a retried activity writes nothing twice
    assert await _rows(stack, refund_id) == {
        ("buyer", buyer, "dispute_upheld"),
        ("buyer", buyer, "refund_rejected"),
        ("device", device, "dispute_upheld"),
        ("device", device, "refund_rejected"),
    }
    assert await _history(stack, buyer, device) == BuyerHistory(
        buyer=OutcomeCounts(dispute_upheld=1, refund_rejected=1),
        # the same refund is the buyer's: not counted again for the device
        device=OutcomeCounts(),
    )
    assert await _history(stack, None, device) == BuyerHistory(
        device=OutcomeCounts(dispute_upheld=1, refund_rejected=1)
    )


async def test_a_refund_without_buyer_or_device_id_records_nothing(stack: LiveStack) -> None:
    merchant_id, _ = await stack.merchant([{}])
    refund_id = await _untracked(stack, merchant_id, {})
    await _feedback(stack, RiskFeedbackInput(refund_id, "timed_out"))
    assert await _rows(stack, refund_id) == set()


async def test_only_the_ids_the_refund_carried_are_recorded(stack: LiveStack) -> None:
    merchant_id, _ = await stack.merchant([{}])
    device = _id("d")
    refund_id = await _untracked(stack, merchant_id, {"device_id": device})
    await _feedback(stack, RiskFeedbackInput(refund_id, "timed_out"))
    assert await _rows(stack, refund_id) == {("device", device, "timed_out")}


async def test_an_unknown_ending_records_nothing_and_does_not_fail(stack: LiveStack) -> None:
    merchant_id, _ = await stack.merchant([{}])
    buyer = _id("b")
    refund_id = await _untracked(stack, merchant_id, {"buyer_id": buyer})
    await _feedback(stack, RiskFeedbackInput(refund_id, "resolved", resolution=None))
    assert await _rows(stack, refund_id) == set()


async def test_an_unknown_refund_is_a_non_retryable_error(stack: LiveStack) -> None:
    with pytest.raises(ApplicationError, match="not found") as caught:
        await _feedback(stack, RiskFeedbackInput(_id("R-missing"), "timed_out"))
    assert caught.value.non_retryable


async def test_outcomes_older_than_the_lookback_do_not_count(stack: LiveStack) -> None:
    merchant_id, _ = await stack.merchant([{}])
    buyer = _id("b")
    old = await _untracked(stack, merchant_id, {"buyer_id": buyer})
    recent = await _untracked(stack, merchant_id, {"buyer_id": buyer})
    await _feedback(stack, RiskFeedbackInput(old, "timed_out"))
    await _feedback(stack, RiskFeedbackInput(recent, "timed_out"))
    async with stack.services.sessions() as session:
        await session.exec(
            update(BuyerOutcome)
            .where(col(BuyerOutcome.refund_id) == old)
            .values(recorded_at=utcnow() - timedelta(days=200))
        )
        await session.commit()
    assert await _history(stack, buyer, None, days=180) == BuyerHistory(
        buyer=OutcomeCounts(timed_out=1)
    )
    assert await _history(stack, buyer, None, days=365) == BuyerHistory(
        buyer=OutcomeCounts(timed_out=2)
    )


# --- end to end through the API ---------------------------------------------------------------


def _history_reasons(body: dict[str, Any]) -> dict[str, dict[str, Any]]:
    reasons: list[dict[str, Any]] = body["risk"]["reasons"]
    return {r["code"]: r for r in reasons if r["code"].startswith(("buyer.prior", "device.prior"))}


async def test_a_second_refund_from_the_same_buyer_scores_higher_because_of_the_first(
    stack: LiveStack,
) -> None:
    merchant_id, _ = await stack.merchant([{}])
    buyer, device = _id("b"), _id("d")

    def body(buyer_id: str | None, device_id: str | None) -> dict[str, Any]:
        signals: dict[str, Any] = {"refund_only_after_delivery": True}
        if buyer_id:
            signals["buyer_id"] = buyer_id
        if device_id:
            signals["device_id"] = device_id
        return stack.refund_body(merchant_id, amount="600.00", deadline_in=3600, signals=signals)

    async def take(refund: dict[str, Any]) -> dict[str, Any]:
        response = await stack.intake(refund)
        assert response.status_code == 201, response.text
        taken: dict[str, Any] = response.json()
        if taken["tracked"]:
            watched.append(refund["refund_id"])
        return taken

    watched: list[str] = []
    first_body = body(buyer, device)
    first = await take(first_body)
    assert first["tracked"] is True
    assert _history_reasons(first) == {}
    # The merchant disputed it; the platform rejected the refund, which ends the watch.
    first_id = first_body["refund_id"]
    response = await stack.http.post(
        f"/v1/refunds/{first_id}/resolution",
        headers=stack.platform(),
        json={"resolution": "rejected", "event_id": f"reject-{first_id}"},
    )
    assert response.status_code == 200, response.text
    assert await stack.outcome(first_id) == "resolved"
    watched.remove(first_id)
    await _feedback(stack, RiskFeedbackInput(first_id, "resolved", "rejected", "dispute"))

    # Identical fields but the ids: another buyer on another device is the baseline.
    baseline = await take(body(_id("b"), _id("d")))
    assert _history_reasons(baseline) == {}
    second = await take(body(buyer, device))
    other_on_device = await take(body(_id("b"), device))
    device_only = await take(body(None, device))
    try:
        reasons = _history_reasons(second)
        assert set(reasons) == {"buyer.prior_disputes_upheld", "buyer.prior_refunds_rejected"}
        upheld = reasons["buyer.prior_disputes_upheld"]
        assert upheld["text"].startswith(
            "this buyer had 1 refund rejected after the merchant's dispute in the last 180 days"
        )
        gained = sum(reason["points"] for reason in reasons.values())
        assert second["risk"]["score"] == baseline["risk"]["score"] + gained
        assert gained == 30  # the default file: 20 for the upheld dispute + 10 for the rejection
        assert second["risk"]["level"] != baseline["risk"]["level"]

        # The device's history counts for anyone on it, at the device's (lower) points.
        on_device = _history_reasons(other_on_device)
        assert set(on_device) == {"device.prior_disputes_upheld", "device.prior_refunds_rejected"}
        assert on_device["device.prior_disputes_upheld"]["text"].startswith(
            "other buyers on this device had 1 refund"
        )
        device_points = sum(reason["points"] for reason in on_device.values())
        assert 0 < device_points < gained
        assert other_on_device["risk"]["score"] == baseline["risk"]["score"] + device_points
        alone = _history_reasons(device_only)
        assert alone["device.prior_disputes_upheld"]["text"].startswith("this device had 1 refund")
        assert device_only["risk"]["score"] == other_on_device["risk"]["score"]

        # Support sees the same reasons on the refund.
        view = await stack.view(second["refund_id"])
        assert "buyer.prior_disputes_upheld" in {r["code"] for r in view["risk"]["reasons"]}
    finally:
        for refund_id in watched:
            await _cancel(stack, refund_id)
