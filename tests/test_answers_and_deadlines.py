"""In-app answers through the workflow Update, deadline moves, search attributes."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from api.auth import merchant_token
from db.models import PlatformEvent, utcnow
from tests.harness.stack import LiveStack
from workflows import search_attributes as sa
from workflows.starter import watch_handle


def _merchant_headers(stack: LiveStack, merchant_id: str) -> dict[str, str]:
    secret = stack.settings.merchant_token_secret.get_secret_value()
    return {"Authorization": f"Bearer {merchant_token(secret, merchant_id)}"}


async def test_in_app_answer_is_validated_by_the_workflow_before_anything_is_written(
    stack: LiveStack,
) -> None:
    owner, _ = await stack.merchant([{"calls": [{"answer": "no-answer"}]}])
    stranger, _ = await stack.merchant([{}])
    body = stack.refund_body(owner, deadline_in=600)
    refund_id = body["refund_id"]
    assert (await stack.intake(body)).status_code == 201
    await stack.wait_view(refund_id, lambda v: v["stage"] == "in_app_sent")

    notices = await stack.http.get("/v1/merchant/notices", headers=_merchant_headers(stack, owner))
    assert [n["refund_id"] for n in notices.json()] == [refund_id]

    answer = {"action": "handle_now", "request_id": f"req-{uuid.uuid4().hex[:6]}"}
    refused = await stack.http.post(
        f"/v1/merchant/refunds/{refund_id}/answer",
        headers=_merchant_headers(stack, stranger),
        json=answer,
    )
    assert refused.status_code == 403 and "another merchant" in refused.json()["detail"]
    assert (await stack.view(refund_id))["responses"] == [], "a refused answer writes nothing"

    accepted = await stack.http.post(
        f"/v1/merchant/refunds/{refund_id}/answer",
        headers=_merchant_headers(stack, owner),
        json=answer,
    )
    assert accepted.status_code == 200, accepted.text
    assert accepted.json()["recorded"] == "handle_now"
    view = await stack.wait_view(refund_id, lambda v: v["stage"] == "acknowledged")
    assert [(r["channel"], r["action"]) for r in view["responses"]] == [("in_app", "handle_now")]

    await stack.http.post(
        f"/v1/refunds/{refund_id}/resolution",
        headers=stack.platform(),
        json={"resolution": "rejected", "event_id": f"ev-{refund_id}"},
    )
    assert await stack.outcome(refund_id) == "resolved"
    late = await stack.http.post(
        f"/v1/merchant/refunds/{refund_id}/answer",
        headers=_merchant_headers(stack, owner),
        json={"action": "dispute", "request_id": "late-1"},
    )
    assert late.status_code == 409


async def test_moving_the_deadline_replans_and_keeps_search_attributes_current(
    stack: LiveStack,
) -> None:
    merchant_id, _ = await stack.merchant([{"calls": [{"answer": "no-answer"}]}])
    body = stack.refund_body(merchant_id, deadline_in=600, amount="5000.00")
    refund_id = body["refund_id"]
    assert (await stack.intake(body)).status_code == 201
    handle = watch_handle(stack.client, refund_id)
    await stack.wait_view(refund_id, lambda v: v["stage"] == "in_app_sent")

    new_deadline = datetime.now(UTC) + timedelta(seconds=8)
    moved = await stack.http.post(
        f"/v1/refunds/{refund_id}/deadline",
        headers=stack.platform(),
        json={"deadline_at": new_deadline.isoformat(), "event_id": f"dl-{refund_id}"},
    )
    assert moved.status_code == 200
    status = await handle.query("status")
    assert (
        abs(datetime.fromisoformat(status["deadline"]).timestamp() - new_deadline.timestamp()) < 1
    )
    assert await stack.outcome(refund_id, timeout=40) == "timed_out"

    timeline = (
        await stack.http.get(f"/v1/refunds/{refund_id}/timeline", headers=stack.support())
    ).json()
    assert "ladder.replanned" in [e["kind"] for e in timeline]
    attributes = (await handle.describe()).typed_search_attributes
    assert attributes.get(sa.OUTCOME) == "timed_out"
    assert attributes.get(sa.STAGE) == "closed"
    assert attributes.get(sa.MERCHANT_ID) == merchant_id
    assert attributes.get(sa.AMOUNT_MINOR) == 500000
    deadline_attr = attributes.get(sa.DEADLINE)
    assert deadline_attr is not None
    assert abs(deadline_attr.timestamp() - new_deadline.timestamp()) < 1
    view = await stack.view(refund_id)
    assert view["loss"] == "5000.00"


async def test_a_platform_decision_taken_after_the_deadline_counts_as_a_timeout(
    stack: LiveStack,
) -> None:
    # The platform's resolution can reach us before our own deadline timer fires (clock skew,
    # a busy worker). What counts is when the platform decided: at or after the deadline it is
    # the auto-approval refundwatch exists to prevent, so it is a loss, not a save.
    merchant_id, _ = await stack.merchant([{"calls": [{"answer": "no-answer"}]}])
    body = stack.refund_body(merchant_id, deadline_in=600, amount="5000.00")
    refund_id = body["refund_id"]
    assert (await stack.intake(body)).status_code == 201
    deadline = datetime.fromisoformat(body["deadline_at"])
    late = await stack.http.post(
        f"/v1/refunds/{refund_id}/resolution",
        headers=stack.platform(),
        json={
            "resolution": "approved",
            "event_id": f"ev-late-{refund_id}",
            "resolved_at": (deadline + timedelta(seconds=1)).isoformat(),
        },
    )
    assert late.status_code == 200, late.text
    assert await stack.outcome(refund_id) == "timed_out"
    view = await stack.view(refund_id)
    assert view["loss"] is not None, view


async def test_a_resolution_stored_in_time_saves_the_refund_though_its_signal_never_came(
    stack: LiveStack,
) -> None:
    # The API stored the platform's decision before the deadline, then died (or was slow)
    # before signalling the watch: at the deadline the watch reads the stored decision.
    merchant_id, _ = await stack.merchant([{"calls": [{"answer": "no-answer"}]}])
    body = stack.refund_body(merchant_id, deadline_in=6, amount="5000.00")
    refund_id = body["refund_id"]
    assert (await stack.intake(body)).status_code == 201
    event_id = f"ev-unsignalled-{refund_id}"
    async with stack.services.sessions() as session:
        session.add(
            PlatformEvent(
                event_id=event_id,
                refund_id=refund_id,
                kind="resolution",
                payload={"resolution": "approved", "event_id": event_id},
                received_at=utcnow(),
            )
        )
        await session.commit()
    assert await stack.outcome(refund_id) == "resolved"
    view = await stack.view(refund_id)
    assert view["loss"] is None and view["resolution"] == "approved", view
    timeline = await stack.http.get(f"/v1/refunds/{refund_id}/timeline", headers=stack.support())
    kinds = [entry["kind"] for entry in timeline.json()]
    assert "resolution.read_at_deadline" in kinds, kinds


async def test_a_resolution_for_a_closed_refund_is_refused_with_409_not_a_500(
    stack: LiveStack,
) -> None:
    merchant_id, _ = await stack.merchant([{"calls": [{"answer": "no-answer"}]}])
    body = stack.refund_body(merchant_id, deadline_in=3, amount="5000.00")
    refund_id = body["refund_id"]
    assert (await stack.intake(body)).status_code == 201
    assert await stack.outcome(refund_id) == "timed_out"
    late = await stack.http.post(
        f"/v1/refunds/{refund_id}/resolution",
        headers=stack.platform(),
        json={"resolution": "approved", "event_id": f"ev-closed-{refund_id}"},
    )
    assert late.status_code == 409, late.text
    assert "already closed (timed_out)" in late.json()["detail"]
