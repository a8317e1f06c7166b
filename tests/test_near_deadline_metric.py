"""refundwatch_watches_near_deadline_uncontacted: open watches due within the hour that no SMS
or call reached and whose merchant has not answered (the alert in deploy/prometheus)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from db.models import MerchantResponse, NotificationAttempt, Refund
from observability.db_metrics import read_snapshot
from tests.harness.stack import LiveStack

# A clock far from the real one: no other test's refund is due near it.
NOW = datetime(2031, 3, 1, 12, 0, tzinfo=UTC)


def _refund(merchant_id: str, due_in: timedelta, state: str = "open") -> Refund:
    refund_id = f"R-{uuid.uuid4().hex[:10]}"
    return Refund(
        refund_id=refund_id,
        merchant_id=merchant_id,
        order_id="O-near",
        amount_minor=500000,
        currency="CNY",
        reason="empty package",
        requested_at=NOW - timedelta(hours=20),
        deadline_at=NOW + due_in,
        payload_hash="0" * 64,
        tracked=True,
        workflow_id=f"refund-{refund_id}",
        workflow_started_at=NOW - timedelta(hours=20),
        state=state,
        stage="in_app_sent",
        created_at=NOW - timedelta(hours=20),
    )


def _attempt(refund: Refund, channel: str, sid: str | None) -> NotificationAttempt:
    return NotificationAttempt(
        idempotency_key=f"{refund.workflow_id}:{channel}:c0:a1",
        refund_id=refund.refund_id,
        merchant_id=refund.merchant_id,
        channel=channel,
        step=channel,
        attempt=1,
        status="accepted" if sid else "failed",
        provider_sid=sid,
        created_at=NOW,
        updated_at=NOW,
    )


async def test_counts_only_open_watches_due_soon_that_reached_nobody(stack: LiveStack) -> None:
    merchant_id, _ = await stack.merchant([{}])
    async with stack.services.sessions() as session:
        before = await read_snapshot(session, overdue_grace=timedelta(minutes=15), now=NOW)
        untouched = _refund(merchant_id, timedelta(minutes=30))  # counts
        in_app_only = _refund(merchant_id, timedelta(minutes=50))  # counts: the app is no contact
        failed_sms = _refund(merchant_id, timedelta(minutes=20))  # counts: the SMS never went
        reached_by_sms = _refund(merchant_id, timedelta(minutes=30))
        reached_by_call = _refund(merchant_id, timedelta(minutes=10))
        answered = _refund(merchant_id, timedelta(minutes=30))
        later = _refund(merchant_id, timedelta(hours=3))
        past = _refund(merchant_id, -timedelta(minutes=5))  # overdue, another alert's job
        closed = _refund(merchant_id, timedelta(minutes=30), state="resolved")
        rows = [untouched, in_app_only, failed_sms, reached_by_sms, reached_by_call, answered,
                later, past, closed]  # fmt: skip
        session.add_all(rows)
        await session.flush()
        session.add_all(
            [
                _attempt(in_app_only, "in_app", None),
                _attempt(failed_sms, "sms", None),
                _attempt(reached_by_sms, "sms", f"SM{uuid.uuid4().hex}"),
                _attempt(reached_by_call, "call", f"CA{uuid.uuid4().hex}"),
                MerchantResponse(
                    source_event_id=f"in_app:{uuid.uuid4().hex}",
                    refund_id=answered.refund_id,
                    merchant_id=merchant_id,
                    channel="in_app",
                    action="handle_now",
                    raw="handle_now",
                    received_at=NOW,
                ),
            ]
        )
        await session.commit()
        after = await read_snapshot(session, overdue_grace=timedelta(minutes=15), now=NOW)
    assert after.near_deadline_uncontacted - before.near_deadline_uncontacted == 3
