"""Refund intake over HTTP: idempotency, conflicts, validation, roles, untracked refunds."""

from __future__ import annotations

from typing import Any

import pytest
from temporalio.service import RPCError

from tests.harness.stack import LiveStack
from workflows.starter import watch_handle


async def test_same_intake_twice_gives_the_same_answer_and_one_workflow(stack: LiveStack) -> None:
    merchant_id, _ = await stack.merchant([{"calls": [{"answer": "no-answer"}]}])
    body = stack.refund_body(merchant_id, deadline_in=3600)
    first = await stack.intake(body)
    again = await stack.intake(body)
    assert first.status_code == 201, first.text
    assert again.status_code == 200
    assert again.json() == first.json()
    created = first.json()
    assert created["tracked"] is True
    assert created["workflow_id"] == f"refund-{body['refund_id']}"
    assert any(r["code"].startswith("logistics") for r in created["risk"]["reasons"])
    description = await watch_handle(stack.client, body["refund_id"]).describe()
    assert description.status is not None
    assert description.status.name == "RUNNING"
    await stack.http.post(
        f"/v1/refunds/{body['refund_id']}/resolution",
        headers=stack.platform(),
        json={"resolution": "cancelled", "event_id": f"cleanup-{body['refund_id']}"},
    )


async def test_same_refund_id_with_other_content_is_a_409_naming_the_fields(
    stack: LiveStack,
) -> None:
    merchant_id, _ = await stack.merchant([{}])
    body = stack.refund_body(merchant_id, deadline_in=3600, signals={})
    body["amount"] = "10.00"
    assert (await stack.intake(body)).status_code == 201
    changed = {**body, "amount": "11.00", "signals": {"buyer_refund_count": 3}}
    response = await stack.intake(changed)
    assert response.status_code == 409
    assert set(response.json()["detail"]["fields"]) == {"amount", "signals.buyer_refund_count"}


async def test_invalid_intake_is_422_naming_the_field(stack: LiveStack) -> None:
    merchant_id, _ = await stack.merchant([{}])
    cases: dict[str, dict[str, Any]] = {
        "amount": {"amount": 12.5},
        "currency": {"currency": "yuan"},
        "deadline_at": {"deadline_at": "2020-01-01T00:00:00"},
        "signals": {"signals": {"buyer_refund_count": -1}},
    }
    for field, change in cases.items():
        body = {**stack.refund_body(merchant_id), **change}
        response = await stack.intake(body)
        assert response.status_code == 422, (field, response.text)
        assert field in response.text
    unknown = await stack.intake(stack.refund_body("m-nobody"))
    assert unknown.status_code == 422
    assert "unknown merchant" in unknown.text
    assert "merchant_id" in unknown.text


async def test_tokens_decide_who_may_do_what(stack: LiveStack) -> None:
    merchant_id, _ = await stack.merchant([{}])
    body = stack.refund_body(merchant_id)
    assert (await stack.http.post("/v1/refunds", json=body)).status_code == 401
    wrong = await stack.http.post(
        "/v1/refunds", json=body, headers={"Authorization": "Bearer not-a-token"}
    )
    assert wrong.status_code == 401
    as_support = await stack.http.post("/v1/refunds", json=body, headers=stack.support())
    assert as_support.status_code == 403
    assert "platform" in as_support.json()["detail"]


async def test_small_normal_refund_is_recorded_but_not_tracked(stack: LiveStack) -> None:
    merchant_id, _ = await stack.merchant([{}])
    body = stack.refund_body(merchant_id, amount="15.00", signals={})
    response = await stack.intake(body)
    assert response.status_code == 201
    assert response.json()["tracked"] is False
    assert response.json()["workflow_id"] is None
    assert response.json()["risk"]["level"] == "low"
    view = await stack.view(body["refund_id"])
    assert view["state"] == "untracked"
    assert view["attempts"] == []
    with pytest.raises(RPCError, match=r"(?i)not found"):
        await watch_handle(stack.client, body["refund_id"]).describe()
    timeline = (
        await stack.http.get(f"/v1/refunds/{body['refund_id']}/timeline", headers=stack.support())
    ).json()
    kinds = [entry["kind"] for entry in timeline]
    assert kinds[:2] == ["refund.received", "risk.assessed"]


async def test_api_docs_work_offline(stack: LiveStack) -> None:
    page = await stack.http.get("/docs")
    assert page.status_code == 200 and "/static/swagger/swagger-ui-bundle.js" in page.text
    assert "cdn" not in page.text.lower()
    script = await stack.http.get("/static/swagger/swagger-ui-bundle.js")
    assert script.status_code == 200 and len(script.content) > 100_000
    schema = (await stack.http.get("/openapi.json")).json()
    assert {"/v1/refunds", "/v1/merchants", "/twilio/sms"} <= set(schema["paths"])
