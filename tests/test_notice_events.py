"""Notices the platform can push in its own app: each in-app notice, each reminder sent, each
read receipt and acknowledgement, each stage change arrive as signed events (the platform's
receiver verifies every signature), and the inbox keeps read and acknowledged state."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from datetime import timedelta
from typing import Any

import pytest
from sqlmodel import select
from temporalio.client import Client

from api.auth import merchant_token
from application.notice_events import UNSTARTED_AFTER, tell_inbox_event
from db.models import InAppNotice, OutboundEvent, utcnow
from platform_webhooks.types import NOTICE_ACKNOWLEDGED
from scheduler.reconcile import reconcile
from tests.harness.http_server import free_port
from tests.harness.stack import LiveStack

NO_ANSWER: dict[str, Any] = {"calls": [{"answer": "no-answer"}]}


@pytest.fixture
def notice_events(stack: LiveStack) -> Iterator[None]:
    """Watches started during the test tell the platform their notices."""
    stack.services.settings.platform_notice_events = True
    try:
        yield
    finally:
        stack.services.settings.platform_notice_events = False


def _merchant(stack: LiveStack, merchant_id: str) -> dict[str, str]:
    secret = stack.settings.merchant_token_secret.get_secret_value()
    return {"Authorization": f"Bearer {merchant_token(secret, merchant_id)}"}


def _received(stack: LiveStack, refund_id: str) -> dict[str, list[dict[str, Any]]]:
    assert stack.receiver is not None
    found: dict[str, list[dict[str, Any]]] = {}
    for event in stack.receiver.events.values():
        if event.refund_id == refund_id:
            assert event.acknowledgements == 1, event
            found.setdefault(event.type, []).append(event.payload)
    return found


@pytest.mark.usefixtures("notice_events")
async def test_notices_reminders_reads_and_stages_reach_the_platform_signed(
    stack: LiveStack,
) -> None:
    merchant_id, _ = await stack.merchant([NO_ANSWER])
    body = stack.refund_body(merchant_id, deadline_in=30)
    refund_id = body["refund_id"]
    assert (await stack.intake(body)).status_code == 201
    await stack.wait_view(refund_id, lambda v: v["stage"] == "in_app_sent")

    inbox = await stack.http.get("/v1/merchant/notices", headers=_merchant(stack, merchant_id))
    assert inbox.status_code == 200, inbox.text
    [notice] = [n for n in inbox.json() if n["refund_id"] == refund_id]
    assert notice["read_at"] is not None and notice["acknowledged_at"] is None
    acked = await stack.http.post(
        f"/v1/merchant/notices/{notice['id']}/ack", headers=_merchant(stack, merchant_id)
    )
    assert acked.status_code == 200, acked.text
    assert acked.json()["acknowledged_at"] is not None
    again = await stack.http.post(
        f"/v1/merchant/notices/{notice['id']}/ack", headers=_merchant(stack, merchant_id)
    )
    assert again.json()["acknowledged_at"] == acked.json()["acknowledged_at"]
    stranger = await stack.http.post(
        f"/v1/merchant/notices/{notice['id']}/ack", headers=_merchant(stack, "m-stranger")
    )
    assert stranger.status_code == 404

    await stack.wait_view(refund_id, lambda v: v["stage"] in ("sms_sent", "calling"))
    await stack.http.post(
        f"/v1/refunds/{refund_id}/resolution",
        headers=stack.platform(),
        json={"resolution": "approved", "event_id": f"ev-{refund_id}"},
    )
    assert await stack.outcome(refund_id) == "resolved"

    async def all_arrived() -> bool:
        got = _received(stack, refund_id)
        stages = [p["data"]["stage"] for p in got.get("refund.stage_changed", [])]
        return {"notice.created", "notice.read", "notice.acknowledged", "reminder.sent"} <= set(
            got
        ) and "closed" in stages

    await stack.wait_for(all_arrived, timeout=40)
    got = _received(stack, refund_id)
    [created] = got["notice.created"]
    assert created["data"]["notice"]["id"] == notice["id"]
    assert created["data"]["notice"]["message"] == notice["message"]
    assert got["notice.acknowledged"][0]["data"]["notice"]["acknowledged_at"] is not None
    sms = [
        p["data"]["reminder"]
        for p in got["reminder.sent"]
        if p["data"]["reminder"]["channel"] == "sms"
    ]
    assert sms and sms[0]["segments"] == 2 and sms[0]["step"] == "sms_reminder"
    stages = [p["data"]["stage"] for p in got["refund.stage_changed"]]
    assert {"in_app_sent", "sms_sent", "closed"} <= set(stages)
    assert not any("+86" in str(p) for payloads in got.values() for p in payloads)


@pytest.mark.usefixtures("notice_events")
async def test_an_inbox_event_stored_while_temporal_is_away_is_delivered_by_the_reconciler(
    stack: LiveStack,
) -> None:
    merchant_id, _ = await stack.merchant([NO_ANSWER])
    body = stack.refund_body(merchant_id, deadline_in=60)
    refund_id = body["refund_id"]
    assert (await stack.intake(body)).status_code == 201
    await stack.wait_view(refund_id, lambda v: v["stage"] == "in_app_sent")
    async with stack.services.sessions() as session:
        notice = (
            await session.exec(select(InAppNotice).where(InAppNotice.refund_id == refund_id))
        ).first()
    assert notice is not None

    # The API's view of Temporal: a server nobody listens on. The event is stored, not sent.
    away = await Client.connect(f"127.0.0.1:{free_port()}", lazy=True)
    event_id = await tell_inbox_event(
        replace(stack.services, temporal=away), NOTICE_ACKNOWLEDGED, notice
    )
    assert event_id is not None
    async with stack.services.sessions() as session:
        stored = await session.get(OutboundEvent, event_id)
    assert stored is not None and stored.attempts == 0 and stored.delivered_at is None

    # Too young: its delivery may still be on its way. Old enough: the reconciler starts it.
    soon = await reconcile(stack.services, overdue_grace=timedelta(hours=1))
    assert soon.inbox_events_started == 0
    later = utcnow() + UNSTARTED_AFTER + timedelta(seconds=1)
    passed = await reconcile(stack.services, overdue_grace=timedelta(hours=1), now=later)
    assert passed.inbox_events_started >= 1

    async def acknowledged() -> bool:
        return NOTICE_ACKNOWLEDGED in _received(stack, refund_id)

    await stack.wait_for(acknowledged, timeout=30)
    # A second pass finds it delivered and starts nothing again; the platform got it once.
    again = await reconcile(stack.services, overdue_grace=timedelta(hours=1), now=later)
    async with stack.services.sessions() as session:
        delivered = await session.get(OutboundEvent, event_id)
    assert delivered is not None and delivered.delivered_at is not None
    assert again.inbox_events_started == 0
    assert len(_received(stack, refund_id)[NOTICE_ACKNOWLEDGED]) == 1
    await stack.http.post(
        f"/v1/refunds/{refund_id}/resolution",
        headers=stack.platform(),
        json={"resolution": "approved", "event_id": f"ev-{refund_id}"},
    )
