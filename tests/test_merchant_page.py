"""The merchant page behind the SMS's action link, in a real browser (Debian's chromium driven
by playwright) at a phone's viewport (390×844): the link in the SMS, a preview fetch that
changes nothing, "dispute" then a photo from the "camera" inside the evidence window, one-click
rejection in Chinese, and the platform receiving the signed events. Screenshots go to
$REFUNDWATCH_SCREENS (default /tmp) as refundwatch-merchant-*.png."""

from __future__ import annotations

import os
import re
import tempfile
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import Browser, BrowserContext, ViewportSize, async_playwright, expect
from sqlmodel import select

from db.models import AuditEvent, EvidenceSubmission
from demo.run import EVIDENCE_PNG
from tests.harness.stack import LiveStack
from tests.test_disputes import _events
from tests.test_support_cli import refundwatch
from tests.test_support_pages import CHROMIUM, CHROMIUM_ARGS

SHOTS = Path(os.environ.get("REFUNDWATCH_SCREENS") or tempfile.gettempdir())
PHONE: ViewportSize = {"width": 390, "height": 844}
NO_ANSWER: dict[str, Any] = {"calls": [{"answer": "no-answer"}]}
LINK = re.compile(r"http://127\.0\.0\.1:\d+/m/[A-Za-z0-9_-]{30}")


@pytest.fixture(scope="module")
async def browser() -> AsyncIterator[Browser]:
    if not CHROMIUM.exists():
        pytest.fail("Debian's chromium is missing: `make install` installs it (apt-get)")
    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=CHROMIUM_ARGS
        )
        yield launched
        await launched.close()


async def _phone(browser: Browser, stack: LiveStack, locale: str) -> BrowserContext:
    context = await browser.new_context(
        base_url=str(stack.http.base_url),
        viewport=PHONE,
        device_scale_factor=2,
        is_mobile=True,
        has_touch=True,
        locale=locale,
    )
    context.set_default_timeout(15_000)
    return context


async def _sms_link(stack: LiveStack, phone: str, refund_id: str) -> tuple[str, str]:
    """The SMS the merchant got (from the sandbox) and the action link in it."""

    async def texted() -> bool:
        messages = (await stack.sandbox.get("/sandbox/messages")).json()
        return any(m["to"] == phone and refund_id in m["body"] for m in messages)

    await stack.wait_for(texted, timeout=40)
    messages = (await stack.sandbox.get("/sandbox/messages")).json()
    body = next(m["body"] for m in messages if m["to"] == phone and refund_id in m["body"])
    found = LINK.search(body)
    assert found, body
    return body, found.group(0)


async def _audit(stack: LiveStack, refund_id: str, kind: str) -> list[AuditEvent]:
    async with stack.services.sessions() as session:
        statement = select(AuditEvent).where(
            AuditEvent.refund_id == refund_id, AuditEvent.kind == kind
        )
        return list((await session.exec(statement)).all())


async def _open_refund(
    stack: LiveStack, language: str, deadline_in: float = 32
) -> tuple[str, str, str, str]:
    merchant_id, phones = await stack.merchant([NO_ANSWER], language=language)
    body = stack.refund_body(merchant_id, deadline_in=deadline_in)  # empty package: abnormal
    assert (await stack.intake(body)).status_code == 201
    sms, link = await _sms_link(stack, phones[0], body["refund_id"])
    # The SMS goes 15 s before the deadline (tests/policy.yaml): the platform grants the merchant
    # more time, so a busy machine cannot close the refund while the browser is still at it.
    moved = await stack.http.post(
        f"/v1/refunds/{body['refund_id']}/deadline",
        headers=stack.platform(),
        json={
            "deadline_at": (datetime.now(UTC) + timedelta(seconds=90)).isoformat(),
            "event_id": f"later-{body['refund_id']}",
        },
    )
    assert moved.status_code == 200, moved.text
    return merchant_id, body["refund_id"], sms, link


async def test_dispute_and_a_camera_photo_from_the_link_reach_the_platform_signed(
    browser: Browser, stack: LiveStack, tmp_path: Path
) -> None:
    _, refund_id, sms, link = await _open_refund(stack, "en")
    assert "Tap to answer: " + link in sms
    view = await stack.view(refund_id)
    [attempt] = [a for a in view["attempts"] if a["channel"] == "sms"]
    assert (attempt["encoding"], attempt["segments"]) == ("gsm7", 2)

    # A link preview (or a carrier's scanner) fetches the link: it is shown, nothing acts.
    preview = await stack.http.get(link, headers={"User-Agent": "WhatsApp/2.23 preview"})
    assert preview.status_code == 200
    assert "Refunds waiting for you" in preview.text
    assert preview.headers["content-security-policy"].startswith("default-src 'none'")
    after = await stack.view(refund_id)
    assert (after["responses"], after["merchant_answer"], after["evidence"]) == ([], None, [])
    assert after["stage"] in ("sms_sent", "calling"), after["stage"]  # the ladder goes on
    assert stack.receiver is not None
    assert [e for e in stack.receiver.events.values() if e.refund_id == refund_id] == []
    assert len(await _audit(stack, refund_id, "link.opened")) == 1

    context = await _phone(browser, stack, "en-US")
    errors: list[str] = []
    context.on("weberror", lambda error: errors.append(str(error.error)))
    context.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    try:
        page = await context.new_page()
        await page.goto(link)
        card = page.locator(f"section[data-refund='{refund_id}']")
        await expect(page.get_by_role("heading", name="Refunds waiting for you")).to_be_visible()
        await expect(card).to_contain_text("CNY 3,000.00")
        await expect(card).to_contain_text("The returned package arrived empty.")
        await expect(card.locator("time.countdown").first).to_have_text(re.compile(r"^\d+:\d\d$"))
        await page.screenshot(path=SHOTS / "refundwatch-merchant-en.png", full_page=True)

        await card.get_by_role("button", name="Dispute: it is abnormal").click()
        await expect(page.get_by_role("status")).to_contain_text(
            "Recorded: you flagged this refund as abnormal"
        )
        disputed = await stack.wait_view(refund_id, lambda v: v["stage"] == "disputed")
        assert [(r["channel"], r["action"]) for r in disputed["responses"]] == [("link", "dispute")]
        card = page.locator(f"section[data-refund='{refund_id}']")
        await expect(card.get_by_role("button", name="I'll handle it now")).to_have_count(0)
        photo = tmp_path / "returned-item.png"
        photo.write_bytes(EVIDENCE_PNG)
        camera = card.get_by_label("Photo of the return")
        assert await camera.get_attribute("accept") == "image/*"
        assert await camera.get_attribute("capture") == "environment"
        await card.get_by_label("What is wrong with the return?").select_option("empty_package")
        await camera.set_input_files(photo)
        await card.get_by_role("button", name="Send evidence").click()
        await expect(page.get_by_role("status")).to_contain_text("Evidence received")
        await stack.wait_view(refund_id, lambda v: v["stage"] == "evidence_submitted")

        events = await _events(stack, refund_id, 2)
        assert [e["type"] for e in events] == ["refund.disputed", "refund.evidence_submitted"]
        assert events[0]["payload"]["data"]["channel"] == "link"
        files = events[1]["payload"]["data"]["evidence"]["files"]
        assert [f["name"] for f in files] == ["returned-item.png"]
        # The open page updates itself: the platform's receipt shows without a reload.
        await expect(card).to_contain_text("The platform received your evidence.", timeout=20_000)
        await page.screenshot(path=SHOTS / "refundwatch-merchant-en-after.png", full_page=True)
        assert errors == [], errors
    finally:
        await context.close()
        await stack.http.post(
            f"/v1/refunds/{refund_id}/resolution",
            headers=stack.platform(),
            json={"resolution": "rejected", "event_id": f"ev-{refund_id}"},
        )


async def test_one_click_rejection_in_chinese_reaches_the_platform_signed(
    browser: Browser, stack: LiveStack
) -> None:
    _, refund_id, sms, link = await _open_refund(stack, "zh-CN")
    assert "一键处理：" + link in sms
    view = await stack.view(refund_id)
    [attempt] = [a for a in view["attempts"] if a["channel"] == "sms"]
    assert (attempt["encoding"], attempt["segments"]) == ("ucs2", 2)

    context = await _phone(browser, stack, "en-US")  # the merchant's setting wins: Chinese
    try:
        page = await context.new_page()
        await page.goto(link)
        await expect(page.get_by_role("heading", name="待您处理的退款")).to_be_visible()
        card = page.locator(f"section[data-refund='{refund_id}']")
        await expect(card).to_contain_text("退回的包裹是空的。")
        await page.screenshot(path=SHOTS / "refundwatch-merchant-zh.png", full_page=True)
        await card.get_by_role("button", name="以异常为由一键拒绝").click()
        await expect(page.get_by_role("status")).to_contain_text("已记录：您以异常为由拒绝该退款")
        await stack.wait_view(refund_id, lambda v: v["stage"] == "rejected")
        events = await _events(stack, refund_id, 1)
        assert [e["type"] for e in events] == ["refund.rejected"]
        assert events[0]["payload"]["data"]["channel"] == "link"
        await expect(card).to_contain_text("已通知平台：您以异常为由拒绝。", timeout=20_000)
        await page.screenshot(path=SHOTS / "refundwatch-merchant-zh-after.png", full_page=True)
        # The switch: the same page in English, remembered for the next visit.
        await page.get_by_role("link", name="English").click()
        await expect(page.get_by_role("heading", name="Refunds waiting for you")).to_be_visible()
        await page.goto(link)
        await expect(page.get_by_role("heading", name="Refunds waiting for you")).to_be_visible()
    finally:
        await context.close()
        await stack.http.post(
            f"/v1/refunds/{refund_id}/resolution",
            headers=stack.platform(),
            json={"resolution": "rejected", "event_id": f"ev-{refund_id}"},
        )


async def test_bad_links_and_bad_forms_are_refused_and_only_the_refusal_is_recorded(
    stack: LiveStack,
) -> None:
    from api.routes.merchant_link import GUARD

    merchant_id, refund_id, _, link = await _open_refund(stack, "en", deadline_in=40)
    token = link.rsplit("/", 1)[1]
    base = link[: -len(token)]
    try:
        tampered = token[:-1] + ("A" if token[-1] != "A" else "B")
        refused = await stack.http.get(base + tampered)
        assert refused.status_code == 404
        assert "This link does not work" in refused.text
        never_minted = await stack.http.get(base + "Q" * 30)
        assert never_minted.status_code == 404

        # A POST without the page's form token, or for a refund the link does not list.
        forged = await stack.http.post(
            f"{link}/refunds/{refund_id}/answer",
            data={"action": "dispute", "request_id": "forged-1", "form_token": "x"},
        )
        assert forged.status_code == 403
        assert "This form is out of date" in forged.text
        other = await stack.http.post(
            f"{link}/refunds/R-someone-else/answer",
            data={"action": "dispute", "request_id": "other-1", "form_token": "x"},
        )
        assert other.status_code == 403
        assert (await stack.view(refund_id))["responses"] == []

        # Uploads: wrong type and too large are refused with the reason; nothing stored.
        page = await stack.http.get(link)
        form_token = re.search(r'name="form_token" value="([^"]+)"', page.text)
        assert form_token
        await stack.http.post(
            f"{link}/refunds/{refund_id}/answer",
            data={"action": "dispute", "request_id": "ok-1", "form_token": form_token[1]},
        )
        await stack.wait_view(refund_id, lambda v: v["stage"] == "disputed")
        fields = {"category": "other", "request_id": "ev-bad-1", "form_token": form_token[1]}
        exe = await stack.http.post(
            f"{link}/refunds/{refund_id}/evidence",
            data=fields,
            files=[("files", ("photo.png", b"MZ\x90\x00not an image", "image/png"))],
        )
        assert exe.status_code == 415
        assert "not a photo we take" in exe.text
        huge = b"\x89PNG\r\n\x1a\n" + b"\x00" * stack.settings.evidence_max_file_bytes
        big = await stack.http.post(
            f"{link}/refunds/{refund_id}/evidence",
            data={**fields, "request_id": "ev-bad-2"},
            files=[("files", ("big.png", huge, "image/png"))],
        )
        assert big.status_code == 413
        assert "too large" in big.text
        async with stack.services.sessions() as session:
            statement = select(EvidenceSubmission).where(EvidenceSubmission.refund_id == refund_id)
            assert (await session.exec(statement)).all() == []

        # Revoked by support (`refundwatch links revoke`): a clear page and 410.
        revoked = await refundwatch(stack, "links", "revoke", merchant_id, "--refund", refund_id)
        assert revoked.code == 0, revoked.err
        assert "revoked 1 link(s)" in revoked.out
        gone = await stack.http.get(link)
        assert gone.status_code == 410
        assert "This link was switched off" in gone.text
        reasons = [e.detail["reason"] for e in await _audit(stack, refund_id, "link.refused")]
        assert "revoked" in reasons
        assert len(await _audit(stack, refund_id, "link.revoked")) == 1

        # Guessing is rate-limited: past the limit a client is turned away unrecorded.
        for n in range(GUARD.limit):
            await stack.http.get(base + f"{n:030d}")
        slowed = await stack.http.get(link)
        assert slowed.status_code == 429
        assert int(slowed.headers["retry-after"]) > 0
    finally:
        GUARD._refusals.clear()
        await stack.http.post(
            f"/v1/refunds/{refund_id}/resolution",
            headers=stack.platform(),
            json={"resolution": "approved", "event_id": f"ev-{refund_id}"},
        )


async def test_support_pages_follow_the_browser_language_and_the_switch(
    browser: Browser, stack: LiveStack
) -> None:
    context = await browser.new_context(
        base_url=str(stack.http.base_url), viewport={"width": 1280, "height": 800}, locale="zh-CN"
    )
    try:
        page = await context.new_page()
        await page.goto("/support")
        await expect(page.get_by_role("heading", name="登录")).to_be_visible()
        await page.get_by_label("客服令牌").fill(stack.support_token)
        await page.get_by_role("button", name="登录").click()
        await expect(page.get_by_role("heading", name="风险退款")).to_be_visible()
        await expect(page.locator("#updated")).to_contain_text("实时 · 更新于", timeout=12_000)
        await page.screenshot(path=SHOTS / "refundwatch-support-zh.png")
        await page.get_by_role("link", name="English").click()
        await expect(page.get_by_role("heading", name="Refunds at risk")).to_be_visible()
        await page.goto("/support/losses")  # the switch is remembered
        await expect(page.get_by_role("heading", name="Saved and lost")).to_be_visible()
    finally:
        await context.close()
