"""Bulk intake (POST /v1/refunds/batch) against the real stack: one result per item with the
single endpoint's rules — 201 taken, 200 the same refund again, 409 naming the fields, 422
naming the field or the unknown merchant — the same risk verdicts and reply codes as one by
one, a watch per tracked refund, and a repeated batch that adds nothing."""

from __future__ import annotations

from typing import Any

from sqlmodel import col, func, select

from application.intake import REPLY_CODES
from db.models import AuditEvent, Refund
from tests.harness.stack import LiveStack
from workflows.starter import watch_handle

DAY = 86400.0  # deadlines a day away: the test policy's steps (seconds before) do not run


async def _batch(stack: LiveStack, items: list[dict[str, Any]]) -> dict[str, Any]:
    response = await stack.http.post(
        "/v1/refunds/batch", headers=stack.platform(), json={"refunds": items}
    )
    assert response.status_code == 200, response.text
    data: dict[str, Any] = response.json()
    return data


async def _cancel(stack: LiveStack, refund_ids: list[str]) -> None:
    for refund_id in refund_ids:
        await stack.http.post(
            f"/v1/refunds/{refund_id}/resolution",
            headers=stack.platform(),
            json={"resolution": "cancelled", "event_id": f"cleanup-{refund_id}"},
        )


async def test_each_item_gets_the_single_endpoints_answer(stack: LiveStack) -> None:
    merchant_id, _ = await stack.merchant([{}])
    other_id, _ = await stack.merchant([{}])
    before_single = stack.refund_body(merchant_id, deadline_in=DAY)
    changed_single = stack.refund_body(merchant_id, deadline_in=DAY)
    single_answer = await stack.intake(before_single)
    assert (await stack.intake(changed_single)).status_code == 201
    fresh = [stack.refund_body(m, deadline_in=DAY) for m in [merchant_id, other_id] * 60]
    items: list[dict[str, Any]] = [
        *fresh,
        dict(fresh[0]),  # the same again, in the same batch: 200
        {**fresh[1], "amount": "12.00"},  # same id, other content, in the same batch: 409
        before_single,  # taken before by the single endpoint: 200 with its answer
        {**changed_single, "reason": "other words"},  # 409 naming the field
        {**stack.refund_body(merchant_id, deadline_in=DAY), "amount": 12.5},  # 422: a float
        stack.refund_body("m-nobody", deadline_in=DAY),  # 422: unknown merchant
        {"refund_id": "R-only-an-id"},  # 422: fields missing
    ]
    data = await _batch(stack, items)
    results = data["results"]
    assert [r["index"] for r in results] == list(range(len(items)))
    statuses = [r["status"] for r in results]
    n = len(fresh)
    assert statuses[:n] == [201] * n
    assert statuses[n:] == [200, 409, 200, 409, 422, 422, 422]
    assert data["counts"] == {"200": 2, "201": n, "409": 2, "422": 3}
    assert results[n]["refund"] == results[0]["refund"]
    assert results[n + 1]["error"]["fields"] == ["amount"]
    assert results[n + 2]["refund"] == single_answer.json()
    assert results[n + 3]["error"]["fields"] == ["reason"]
    assert results[n + 4]["error"][0]["loc"][:4] == ["body", "refunds", n + 4, "amount"]
    assert "unknown merchant 'm-nobody'" in results[n + 5]["error"][0]["msg"]
    assert {tuple(e["loc"])[-1] for e in results[n + 6]["error"]} >= {"merchant_id", "amount"}

    # Each 201 is what the single endpoint answers for the same body from now on.
    for body, result in list(zip(fresh, results, strict=False))[:5]:
        again = await stack.intake(body)
        assert again.status_code == 200
        assert again.json() == result["refund"]
    # A running watch, the audit trail and distinct reply codes per merchant's open refunds.
    ids = [body["refund_id"] for body in fresh]
    for refund_id in ids[:: n // 6]:
        description = await watch_handle(stack.client, refund_id).describe()
        assert description.status is not None
        assert description.status.name == "RUNNING"
    async with stack.services.sessions() as session:
        rows = (await session.exec(select(Refund).where(col(Refund.refund_id).in_(ids)))).all()
        assert len(rows) == n
        assert all(r.workflow_started_at is not None for r in rows if r.tracked)
        kinds = (
            await session.exec(
                select(AuditEvent.kind, func.count())
                .where(col(AuditEvent.refund_id).in_(ids))
                .group_by(col(AuditEvent.kind))
            )
        ).all()
    counted = dict(kinds)
    assert counted["refund.received"] == n
    assert counted["risk.assessed"] == n
    assert counted["workflow.started"] == sum(1 for r in rows if r.tracked)
    codes = [r.reply_code or "" for r in rows if r.merchant_id == merchant_id and r.tracked]
    # The letters the singles' open refunds left (A, B taken), then the shared last one.
    assert sorted(codes) == sorted([*REPLY_CODES[2:], *["Z"] * (len(codes) - 22)])

    # The same batch again: nothing new, every taken item answered 200 with the same body.
    repeat = await _batch(stack, items)
    assert [r["status"] for r in repeat["results"]] == [200] * n + statuses[n:]
    assert [r["refund"] for r in repeat["results"][:n]] == [r["refund"] for r in results[:n]]
    async with stack.services.sessions() as session:
        received = (
            await session.exec(
                select(func.count())
                .select_from(AuditEvent)
                .where(col(AuditEvent.refund_id).in_(ids), AuditEvent.kind == "refund.received")
            )
        ).one()
    assert received == n
    await _cancel(stack, [*ids, before_single["refund_id"], changed_single["refund_id"]])


async def test_batch_scores_and_codes_as_one_by_one(stack: LiveStack) -> None:
    """The same refunds (amounts that move the merchant's median) sent one by one to one
    merchant and in one batch to a twin: the same verdicts and reply codes, item by item."""
    amounts = ["100.00", "120.00", "90.00", "4000.00", "110.00", "9000.00", "15.00", "130.00"]
    singly, _ = await stack.merchant([{}])
    batched, _ = await stack.merchant([{}])
    one_by_one = []
    for amount in amounts:
        response = await stack.intake(
            stack.refund_body(singly, amount=amount, deadline_in=DAY, signals={})
        )
        assert response.status_code == 201
        one_by_one.append(response.json())
    bodies = [
        stack.refund_body(batched, amount=amount, deadline_in=DAY, signals={}) for amount in amounts
    ]
    together = [r["refund"] for r in (await _batch(stack, bodies))["results"]]
    assert [r["risk"] for r in together] == [r["risk"] for r in one_by_one]
    assert any(r["tracked"] for r in together)  # the rule that depends on the median fired
    assert [r["tracked"] for r in together] == [r["tracked"] for r in one_by_one]
    async with stack.services.sessions() as session:
        codes = {}
        for merchant_id in (singly, batched):
            statement = (
                select(Refund.reply_code)
                .where(Refund.merchant_id == merchant_id)
                .order_by(col(Refund.created_at), col(Refund.refund_id))
            )
            codes[merchant_id] = list((await session.exec(statement)).all())
    assert sorted(c for c in codes[singly] if c) == sorted(c for c in codes[batched] if c)
    tracked = [r["refund_id"] for r in [*one_by_one, *together] if r["tracked"]]
    await _cancel(stack, tracked)


async def test_the_envelope_is_checked_and_guarded(stack: LiveStack) -> None:
    merchant_id, _ = await stack.merchant([{}])
    body = stack.refund_body(merchant_id, deadline_in=DAY, signals={})
    url = "/v1/refunds/batch"
    assert (await stack.http.post(url, json={"refunds": [body]})).status_code == 401
    support = await stack.http.post(url, headers=stack.support(), json={"refunds": [body]})
    assert support.status_code == 403
    empty = await stack.http.post(url, headers=stack.platform(), json={"refunds": []})
    assert empty.status_code == 422
    assert "refunds" in empty.text
    too_many = await stack.http.post(url, headers=stack.platform(), json={"refunds": [body] * 501})
    assert too_many.status_code == 422
    assert "500" in too_many.text
    async with stack.services.sessions() as session:
        stored = await session.get(Refund, body["refund_id"])
    assert stored is None  # a refused envelope records nothing
