"""Support's timeline without noise: each real opening of a full record is audited once; a page
refreshing itself or a client polling the JSON adds no row per refresh (db/audit.py,
SUPPORT_VIEW_COLLAPSE); another viewer, or another view, is its own opening."""

from __future__ import annotations

import httpx
from sqlmodel import select

from db.models import AuditEvent
from tests.harness.stack import LiveStack


async def _views(stack: LiveStack, refund_id: str) -> list[AuditEvent]:
    async with stack.services.sessions() as session:
        statement = select(AuditEvent).where(
            AuditEvent.refund_id == refund_id, AuditEvent.kind == "support.viewed"
        )
        return list((await session.exec(statement)).all())


async def test_refreshing_the_same_record_is_one_opening_per_viewer(stack: LiveStack) -> None:
    merchant_id, _ = await stack.merchant([{}])
    body = stack.refund_body(merchant_id, deadline_in=300)
    refund_id = body["refund_id"]
    assert (await stack.intake(body)).status_code == 201
    try:
        for _ in range(5):  # a client polling the JSON every second, as the demo does
            assert await stack.http.get(f"/v1/refunds/{refund_id}", headers=stack.support())
        await stack.http.get(f"/v1/refunds/{refund_id}", headers=stack.platform())
        await stack.http.get(f"/v1/support/refunds/{refund_id}/history", headers=stack.support())
        rows = await _views(stack, refund_id)
        by_view = sorted((r.actor, r.detail["view"]) for r in rows)
        assert by_view == [
            ("platform", "refund"),
            ("support", "refund"),
            ("support", "refund.history"),
        ]
        assert all(r.detail.get("viewer") for r in rows)  # a fingerprint, not the token
        assert not any(stack.support_token in str(r.detail) for r in rows)

        # The timeline page, reloaded three times in one sign-in session: one row. (Its own
        # client: the shared one must not keep the sign-in cookie for other tests.)
        async with httpx.AsyncClient(base_url=stack.http.base_url) as browser:
            login = await browser.post(
                "/support/login", data={"token": stack.support_token, "next": "/support"}
            )
            assert login.status_code == 303
            for _ in range(3):
                page = await browser.get(f"/support/refunds/{refund_id}")
                assert page.status_code == 200
        pages = [r for r in await _views(stack, refund_id) if r.detail["view"] == "refund.page"]
        assert len(pages) == 1
    finally:
        await stack.http.post(
            f"/v1/refunds/{refund_id}/resolution",
            headers=stack.platform(),
            json={"resolution": "approved", "event_id": f"ev-{refund_id}"},
        )
