"""Hostile input through the real API (issue 15): every refusal a clear 4xx naming the problem,
small, and nothing recorded; the database away is a 503 with Retry-After (TwiML for Twilio).

The probe's inputs: a 10 MB intake, a body sent without a length, an error that would echo its
input, a 5,000-character file name, an amount of "1e2", an empty phone and ``since=``, a
deadline equal to the request time or already past, a PDF whose stream inflates to a GiB, a
second piece of evidence before the evidence deadline.
"""

from __future__ import annotations

import asyncio
import zlib
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from sqlmodel import func, select
from twilio.request_validator import RequestValidator

from api.app import create_app
from api.auth import merchant_token
from api.body_limits import SMALL_BODY_BYTES
from application.services import build_services
from config.settings import Settings
from db.models import AuditEvent, EvidenceSubmission, LossEntry, Merchant, Refund
from demo.payloads import merchant_body
from tests.harness.http_server import free_port, serve_asgi
from tests.harness.stack import LiveStack

NEVER: dict[str, Any] = {"calls": [{"answer": "no-answer"}]}
PNG = b"\x89PNG\r\n\x1a\n" + b"\x01" * 64


async def _merchant(stack: LiveStack) -> tuple[str, dict[str, str]]:
    merchant_id, _ = await stack.merchant([NEVER])
    token = merchant_token(stack.settings.merchant_token_secret.get_secret_value(), merchant_id)
    return merchant_id, {"Authorization": f"Bearer {token}"}


async def _count(stack: LiveStack, model: Any, **where: str) -> int:
    async with stack.services.sessions() as session:
        statement = select(func.count()).select_from(model)
        for name, value in where.items():
            statement = statement.where(getattr(model, name) == value)
        return int((await session.exec(statement)).one())


async def _raw_request(url: str, head: str) -> tuple[int, bytes]:
    """Send only a request head (no body) and read the answer: what a server that waits for
    the body before refusing would never give."""
    parts = urlsplit(url)
    reader, writer = await asyncio.open_connection(parts.hostname, parts.port)
    try:
        writer.write(head.encode())
        await writer.drain()
        answer = await asyncio.wait_for(reader.read(65536), 10)
    finally:
        writer.close()
    status = int(answer.split(b" ", 2)[1])
    return status, answer.split(b"\r\n\r\n", 1)[-1]


# ---------------------------------------------------------------------- 2. sizes and echoes
async def test_a_10_mb_intake_is_a_413_and_nothing_is_recorded(stack: LiveStack) -> None:
    merchant_id, _ = await _merchant(stack)
    body = stack.refund_body(merchant_id, deadline_in=3600)
    body["reason"] = "x" * (10 * 1024 * 1024)
    response = await stack.intake(body)
    assert response.status_code == 413, response.text[:300]
    assert len(response.content) < 300
    assert f"({SMALL_BODY_BYTES} bytes)" in response.json()["detail"]
    assert await _count(stack, Refund, refund_id=body["refund_id"]) == 0


async def test_a_body_without_a_length_is_cut_off_at_the_cap(stack: LiveStack) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        yield b'{"refund_id": "R-chunked", "reason": "'
        for _ in range(200):
            yield b"y" * 1024
        yield b'"}'

    response = await stack.http.post(
        "/v1/merchants",
        headers={**stack.platform(), "Content-Type": "application/json"},
        content=chunks(),
    )
    assert response.status_code == 413, response.text[:300]


@pytest.mark.parametrize(
    ("path", "length"),
    [("/v1/refunds", 10 * 1024 * 1024), ("/v1/refunds/R-x/evidence", 10**9)],
)
async def test_a_declared_length_over_the_cap_is_refused_before_the_body_comes(
    stack: LiveStack, path: str, length: int
) -> None:
    head = (
        f"POST {path} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {stack.platform_token}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {length}\r\n\r\n"
    )
    status, body = await _raw_request(str(stack.http.base_url), head)
    assert status == 413, body[:300]


async def test_refusals_never_echo_a_large_input(stack: LiveStack) -> None:
    merchant_id, _ = await _merchant(stack)
    body = stack.refund_body(merchant_id, deadline_in=3600)
    long_id = "r" * 8_000
    body.update(refund_id=long_id, order_id=long_id, currency="cny", amount="1e2")
    body["signals"] = ["z" * 1000] * 30  # the whole list would be the input of its error
    response = await stack.intake(body)
    assert response.status_code == 422
    assert len(response.content) < 4000, len(response.content)
    problems = {tuple(p["loc"]): p for p in response.json()["detail"]}
    assert {("body", "refund_id"), ("body", "order_id"), ("body", "signals")} <= set(problems)
    assert "input" not in problems[("body", "refund_id")]
    assert problems[("body", "currency")]["input"] == "cny"  # a short value is shown
    assert "decimal string" in problems[("body", "amount")]["msg"]


async def test_many_errors_are_listed_up_to_twenty(stack: LiveStack) -> None:
    contacts = [{"phone": "", "name": "", "priority": 0} for _ in range(10)]  # 3 errors each
    merchant = merchant_body("m-many-errors", ["+8613900000001"])
    response = await stack.http.post(
        "/v1/merchants", headers=stack.platform(), json={**merchant, "contacts": contacts}
    )
    assert response.status_code == 422
    answer = response.json()
    assert len(answer["detail"]) == 20 and answer["more_errors"] > 0


# ---------------------------------------------------------------------- 5. schema = behaviour
async def test_openapi_declares_bearer_auth_every_status_and_the_constraints(
    stack: LiveStack,
) -> None:
    spec = (await stack.http.get("/openapi.json")).json()
    schemes = spec["components"]["securitySchemes"]
    assert {"PlatformToken", "SupportToken", "MerchantToken", "TwilioSignature"} <= set(schemes)
    assert schemes["PlatformToken"] == {**schemes["PlatformToken"], "type": "http"}
    intake = spec["paths"]["/v1/refunds"]["post"]
    assert intake["security"] == [{"PlatformToken": []}]
    assert {"200", "201", "401", "403", "409", "413", "422", "503"} <= set(intake["responses"])
    assert "Retry-After" in intake["responses"]["503"]["headers"]
    read = spec["paths"]["/v1/refunds/{refund_id}"]["get"]
    assert read["security"] == [{"SupportToken": []}, {"PlatformToken": []}]
    assert {"401", "403", "404", "422", "503"} <= set(read["responses"])
    for path, operations in spec["paths"].items():
        for method, operation in operations.items():
            for code, response in operation["responses"].items():
                if int(code) >= 400:
                    assert "content" in response, (method, path, code)
    schemas = spec["components"]["schemas"]
    assert schemas["RefundIn"]["properties"]["amount"]["pattern"] == r"^[0-9]{1,16}(\.[0-9]{1,6})?$"
    assert schemas["ContactIn"]["properties"]["phone"]["pattern"].startswith(r"^\+[1-9]")
    assert "after requested_at" in schemas["RefundIn"]["properties"]["deadline_at"]["description"]
    losses = spec["paths"]["/v1/support/losses"]["get"]["parameters"]
    assert all("pattern" in p["schema"] for p in losses if p["name"] in ("since", "until"))


@pytest.mark.parametrize("amount", ["1e2", "1E+3", "-1", "0x10", "1_000", 100, "0"])
async def test_an_amount_must_be_a_decimal_string(stack: LiveStack, amount: object) -> None:
    merchant_id, _ = await _merchant(stack)
    body = {**stack.refund_body(merchant_id, deadline_in=3600), "amount": amount}
    response = await stack.intake(body)
    assert response.status_code == 422, response.text
    assert [p["loc"] for p in response.json()["detail"]] == [["body", "amount"]]
    assert await _count(stack, Refund, refund_id=body["refund_id"]) == 0


async def test_what_the_schema_refuses_the_api_refuses(stack: LiveStack) -> None:
    merchant = merchant_body("m-empty-phone", [""])
    response = await stack.http.post("/v1/merchants", headers=stack.platform(), json=merchant)
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body", "contacts", 0, "phone"]
    assert await _count(stack, Merchant, merchant_id="m-empty-phone") == 0

    empty = await stack.http.get("/v1/support/losses?since=", headers=stack.support())
    assert empty.status_code == 422
    assert empty.json()["detail"][0]["loc"] == ["query", "since"]
    far = await stack.http.get("/v1/support/losses?since=999999999w", headers=stack.support())
    assert far.status_code == 422, far.text

    merchant_id, _ = await _merchant(stack)
    body = stack.refund_body(merchant_id, deadline_in=3600)
    body["deadline_at"] = body["requested_at"]
    same = await stack.intake(body)
    assert same.status_code == 422
    assert "deadline_at must be after requested_at" in same.text


# ---------------------------------------------------------------------- 6. the smaller ones
async def test_a_refund_whose_deadline_has_passed_is_a_loss_at_once(stack: LiveStack) -> None:
    merchant_id, phones = await stack.merchant([NEVER])
    now = datetime.now(UTC)
    body = stack.refund_body(merchant_id, deadline_in=3600)
    body["requested_at"] = (now - timedelta(hours=2)).isoformat()
    body["deadline_at"] = (now - timedelta(hours=1)).isoformat()
    response = await stack.intake(body)
    assert response.status_code == 201, response.text
    assert response.json()["tracked"] is True
    assert await stack.outcome(body["refund_id"], timeout=30) == "timed_out"
    async with stack.services.sessions() as session:
        (loss,) = (
            await session.exec(select(LossEntry).where(LossEntry.refund_id == body["refund_id"]))
        ).all()
        kinds = (
            await session.exec(
                select(AuditEvent.kind).where(AuditEvent.refund_id == body["refund_id"])
            )
        ).all()
    assert loss.amount_minor == 300000 and loss.last_channel is None
    assert "refund.timed_out" in kinds, kinds
    creates = {"message.created", "call.created"}
    sent = [e for e in await stack.sandbox_log() if e["kind"] in creates and e["to"] in phones]
    assert sent == [], "nothing is sent for a deadline that has passed"


async def _disputed(stack: LiveStack, merchant_id: str, headers: dict[str, str]) -> str:
    body = {**stack.refund_body(merchant_id, deadline_in=900), "evidence_window_hours": 1}
    assert (await stack.intake(body)).status_code == 201
    refund_id = str(body["refund_id"])
    disputed = await stack.http.post(
        f"/v1/merchant/refunds/{refund_id}/answer",
        headers=headers,
        json={"action": "dispute", "request_id": f"d-{refund_id}"},
    )
    assert disputed.status_code == 200, disputed.text

    async def in_dispute() -> bool:
        async with stack.services.sessions() as session:
            refund = await session.get(Refund, refund_id)
        return refund is not None and refund.stage == "disputed"

    await stack.wait_for(in_dispute, timeout=30)
    return refund_id


async def _evidence(
    stack: LiveStack,
    refund_id: str,
    headers: dict[str, str],
    request_id: str,
    files: list[tuple[str, bytes, str]],
) -> httpx.Response:
    return await stack.http.post(
        f"/v1/refunds/{refund_id}/evidence",
        headers=headers,
        data={"category": "empty_package", "request_id": request_id},
        files=[("files", f) for f in files],
    )


async def _cancel(stack: LiveStack, refund_id: str) -> None:
    await stack.http.post(
        f"/v1/refunds/{refund_id}/resolution",
        headers=stack.platform(),
        json={"resolution": "cancelled", "event_id": f"ev-cancel-{refund_id}"},
    )


async def test_more_evidence_is_taken_until_the_evidence_deadline(stack: LiveStack) -> None:
    merchant_id, headers = await _merchant(stack)
    refund_id = await _disputed(stack, merchant_id, headers)
    try:
        first = await _evidence(stack, refund_id, headers, "ev-1", [("a.png", PNG, "image/png")])
        assert first.status_code == 201, first.text
        second = await _evidence(stack, refund_id, headers, "ev-2", [("b.png", PNG, "image/png")])
        assert second.status_code == 201, second.text
        assert first.json()["id"] != second.json()["id"]
        listed = await stack.http.get(
            f"/v1/support/refunds/{refund_id}/evidence", headers=stack.support()
        )
        assert [e["id"] for e in listed.json()] == [first.json()["id"], second.json()["id"]]
    finally:
        await _cancel(stack, refund_id)


async def test_a_5000_character_file_name_is_a_422_naming_it(stack: LiveStack) -> None:
    merchant_id, headers = await _merchant(stack)
    refund_id = await _disputed(stack, merchant_id, headers)
    try:
        name = "n" * 5000 + ".png"
        response = await _evidence(stack, refund_id, headers, "ev-long", [(name, PNG, "image/png")])
        assert response.status_code == 422, response.text
        (problem,) = response.json()["detail"]
        assert problem["loc"] == ["body", "files", "filename"]
        assert "file name is too long" in problem["msg"]
        assert len(response.content) < 1000
        assert await _count(stack, EvidenceSubmission, refund_id=refund_id) == 0
    finally:
        await _cancel(stack, refund_id)


def _inflating_pdf(inflated_bytes: int) -> bytes:
    """A PDF whose one FlateDecode stream inflates to ``inflated_bytes`` of zeros."""
    packer = zlib.compressobj(9)
    chunk = bytes(1 << 20)
    stream = b"".join(packer.compress(chunk) for _ in range(inflated_bytes >> 20))
    stream += packer.flush()
    return (
        b"%PDF-1.7\n1 0 obj << /Type /Catalog >> endobj\n"
        + f"2 0 obj << /Length {len(stream)} /Filter /FlateDecode >>\nstream\n".encode()
        + stream
        + b"\nendstream\nendobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"
    )


async def test_a_pdf_that_inflates_to_a_gigabyte_is_kept_and_served_as_sent(
    stack: LiveStack,
) -> None:
    bomb = await asyncio.to_thread(_inflating_pdf, 1 << 30)
    assert len(bomb) < stack.settings.evidence_max_file_bytes  # ~1 MiB on the wire
    merchant_id, headers = await _merchant(stack)
    refund_id = await _disputed(stack, merchant_id, headers)
    try:
        response = await _evidence(
            stack, refund_id, headers, "ev-bomb", [("bomb.pdf", bomb, "application/pdf")]
        )
        assert response.status_code == 201, response.text
        (stored,) = response.json()["files"]
        assert (stored["content_type"], stored["size_bytes"]) == ("application/pdf", len(bomb))
        listed = await stack.http.get(
            f"/v1/support/refunds/{refund_id}/evidence", headers=stack.support()
        )
        url = listed.json()[0]["files"][0]["download_url"]
        download = await stack.http.get(url, headers=stack.support())
        assert download.content == bomb, "served as stored, never inflated"
        assert download.headers["content-disposition"].startswith("attachment;")
        assert download.headers["content-security-policy"] == "default-src 'none'; sandbox"
    finally:
        await _cancel(stack, refund_id)


# ---------------------------------------------------------------------- 3. the database away
def _signed(settings: Settings, path_and_query: str, form: dict[str, str]) -> dict[str, str]:
    token = settings.twilio_auth_token.get_secret_value()
    url = settings.public_base_url + path_and_query
    return {"X-Twilio-Signature": RequestValidator(token).compute_signature(url, form)}


async def test_with_the_database_away_every_route_is_a_503_or_spoken_twiml(
    stack: LiveStack,
) -> None:
    closed = free_port()  # nothing listens here: every connection is refused
    settings = stack.settings.model_copy(
        update={"database_url": f"postgresql+asyncpg://postgres@127.0.0.1:{closed}/gone"}
    )
    services = await build_services(settings, temporal=stack.client)
    secret = settings.merchant_token_secret.get_secret_value()
    merchant = {"Authorization": f"Bearer {merchant_token(secret, 'm-away')}"}
    refund = stack.refund_body("m-away", deadline_in=600)
    shop = merchant_body("m-x", ["+8613900000002"])
    try:
        async with (
            serve_asgi(create_app(settings, services)) as url,
            httpx.AsyncClient(base_url=url, timeout=30) as http,
        ):
            calls = [
                http.post("/v1/refunds", headers=stack.platform(), json=refund),
                http.post(
                    "/v1/merchants",
                    headers=stack.platform(),
                    json=shop,
                ),
                http.get("/v1/refunds/R-1", headers=stack.support()),
                http.get("/v1/support/at-risk", headers=stack.support()),
                http.get("/v1/support/losses", headers=stack.platform()),
                http.get("/v1/merchant/notices", headers=merchant),
                http.get("/readyz"),
            ]
            answers = await asyncio.gather(*calls)
            for answer in answers:
                assert answer.status_code == 503, (answer.request.url, answer.text)
                assert answer.headers["retry-after"] == "5"
            assert "send the same request again" in answers[0].json()["detail"]

            path = "/twilio/voice?key=refund-R-1%3Acall%3Ac1%3Aa1&refund=R-1&lang=zh-CN"
            voice = await http.post(path, headers=_signed(settings, path, {}), data={})
            assert voice.status_code == 200 and "抱歉" in voice.text, voice.text
            assert 'voice="Polly.Zhiyu-Neural"' in voice.text or "cmn-CN" in voice.text
            redirect = voice.text.split("<Redirect", 1)[1].split(">", 1)[1].split("<", 1)[0]
            query = parse_qs(urlsplit(redirect.replace("&amp;", "&")).query)
            assert query["outage"] == ["1"] and query["lang"] == ["zh-CN"]
            last = path + "&outage=2"
            ended = await http.post(last, headers=_signed(settings, last, {}), data={})
            assert "<Hangup" in ended.text and "<Redirect" not in ended.text

            form = {"From": "+8613900000001", "Body": "1A"}
            sms = await http.post(
                "/twilio/sms", headers=_signed(settings, "/twilio/sms", form), data=form
            )
            assert sms.status_code == 200 and "send it again" in sms.text
            forged = await http.post("/twilio/sms", data=form)
            assert forged.status_code == 403, "the signature is checked first"
    finally:
        await services.close()


async def test_a_body_that_is_not_utf8_is_a_422(stack: LiveStack) -> None:
    headers = {**stack.platform(), "Content-Type": "application/json"}
    response = await stack.http.post("/v1/merchants", headers=headers, content=b"1\xff")
    assert response.status_code == 422, response.text
    assert response.json()["detail"][0]["type"] == "json_invalid"
