"""The support pages in a real browser (Debian's chromium, driven by playwright): sign in, watch
the at-risk list refresh itself, read a refund's timeline, check the losses report and chart.
Screenshots go to /tmp/refundwatch-support-*.png."""

from __future__ import annotations

import re
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path
from urllib.parse import urlencode

import pytest
from playwright.async_api import Browser, BrowserContext, Page, async_playwright, expect

from support.formatting import money_text
from support.loss_chart import build_chart
from support.losses import load_loss_items, losses_summary
from tests.harness.stack import LiveStack
from tests.test_support_cli import Scenario, build_scenario, close_open_refund

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SHOTS = Path(tempfile.gettempdir())  # /tmp/refundwatch-support-*.png


@pytest.fixture(scope="module")
def chromium() -> Path:
    if not CHROMIUM.exists():
        pytest.fail("Debian's chromium is missing: `make install` installs it (apt-get)")
    return CHROMIUM


@pytest.fixture(scope="module")
async def browser(chromium: Path) -> AsyncIterator[Browser]:
    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(
            executable_path=str(chromium), args=CHROMIUM_ARGS
        )
        yield launched
        await launched.close()


@pytest.fixture(scope="module")
async def scenario(stack: LiveStack) -> AsyncIterator[Scenario]:
    built = await build_scenario(stack)
    yield built
    await close_open_refund(stack, built)


@pytest.fixture
def console_errors(context: BrowserContext) -> list[str]:
    """Script errors and Content-Security-Policy refusals on any page of the test."""
    errors: list[str] = []
    context.on("weberror", lambda error: errors.append(str(error.error)))
    context.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    return errors


@pytest.fixture
async def context(browser: Browser, stack: LiveStack) -> AsyncIterator[BrowserContext]:
    created = await browser.new_context(
        base_url=str(stack.http.base_url), viewport={"width": 1366, "height": 860}
    )
    created.set_default_timeout(15_000)
    yield created
    await created.close()


async def sign_in(context: BrowserContext, stack: LiveStack, path: str = "/support") -> Page:
    page = await context.new_page()
    await page.goto(path)
    await page.get_by_label("Support token").fill(stack.support_token)
    await page.get_by_role("button", name="Sign in").click()
    await page.wait_for_load_state()
    return page


def masked(phone: str) -> str:
    return f"{phone[:6]}****{phone[-4:]}"


async def test_pages_need_a_support_token_and_keep_it_in_a_strict_httponly_cookie(
    context: BrowserContext, stack: LiveStack
) -> None:
    page = await context.new_page()
    await page.goto("/support/losses")
    assert page.url.endswith("/support/login?next=%2Fsupport%2Flosses")
    await expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    await page.get_by_label("Support token").fill(stack.platform_token)  # not a support token
    await page.get_by_role("button", name="Sign in").click()
    await expect(page.get_by_role("alert")).to_contain_text("That is not a support token")
    await page.screenshot(path=SHOTS / "refundwatch-support-login.png")

    await page.get_by_label("Support token").fill(stack.support_token)
    await page.get_by_role("button", name="Sign in").click()
    await expect(page.get_by_role("heading", name="Saved and lost")).to_be_visible()
    assert page.url.endswith("/support/losses")
    (cookie,) = await context.cookies()
    assert cookie["httpOnly"] is True and cookie["sameSite"] == "Strict"
    assert stack.support_token not in cookie["value"]

    # The JSON API still wants the bearer header; the page's live fragment wants the cookie.
    assert (await stack.http.get("/v1/support/at-risk")).status_code == 401
    assert (await stack.http.get("/support/partials/at-risk")).status_code == 401
    await page.get_by_role("button", name="Sign out").click()
    await expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    await page.goto("/support")
    assert "/support/login" in page.url


async def test_at_risk_list_shows_open_refunds_and_refreshes_itself(
    context: BrowserContext,
    stack: LiveStack,
    scenario: Scenario,
    console_errors: list[str],
) -> None:
    page = await sign_in(context, stack)
    await expect(page.get_by_role("heading", name="Refunds at risk")).to_be_visible()
    row = page.locator(f"tr[data-refund='{scenario.open_id}']")
    await expect(row).to_contain_text("CNY 5,555.00")
    await expect(row).to_contain_text("critical")
    await expect(row).to_contain_text(f"C*** {masked(scenario.phones[0])}")
    await expect(row.locator("td").first).to_have_text(re.compile(r"^\d+m \d\ds$"))
    await expect(page.locator("#at-risk-summary")).to_contain_text("at stake")
    for closed in (scenario.saved_id, scenario.lost_id):
        await expect(page.locator(f"tr[data-refund='{closed}']")).to_have_count(0)
    assert scenario.phones[0] not in await page.content()

    # A refund arriving now shows up without reloading the page.
    body = stack.refund_body(scenario.merchant_id, amount="2222.00", deadline_in=400)
    assert (await stack.intake(body)).status_code == 201
    try:
        fresh = page.locator(f"tr[data-refund='{body['refund_id']}']")
        await expect(fresh).to_contain_text("CNY 2,222.00", timeout=12_000)
        await expect(page.locator("#updated")).to_contain_text("Live · updated")
        await page.screenshot(path=SHOTS / "refundwatch-support-at-risk.png", full_page=True)
        assert console_errors == []
    finally:
        await stack.http.post(
            f"/v1/refunds/{body['refund_id']}/resolution",
            headers=stack.platform(),
            json={"resolution": "cancelled", "event_id": f"ev-{body['refund_id']}"},
        )


async def test_refund_timeline_merges_our_records_and_temporal(
    context: BrowserContext,
    stack: LiveStack,
    scenario: Scenario,
    console_errors: list[str],
) -> None:
    page = await sign_in(context, stack)
    await page.get_by_placeholder("Go to refund id…").fill(scenario.saved_id)
    await page.keyboard.press("Enter")
    await expect(page.get_by_role("heading", level=1)).to_contain_text(
        f"Refund {scenario.saved_id}"
    )
    await expect(page.get_by_role("heading", level=1)).to_contain_text("resolved · rejected")
    timeline = page.locator("#timeline")
    await expect(timeline).to_contain_text("Refund received from the platform: CNY 4321.00")
    await expect(timeline).to_contain_text("Merchant answered handle_now by in_app")
    await expect(timeline).to_contain_text("Update answer accepted action=handle_now")
    await expect(timeline).to_contain_text("Signal resolve received")
    await expect(timeline).to_contain_text("Workflow completed → resolved")
    audit = timeline.locator("li[data-source='audit']")
    temporal = timeline.locator("li[data-source='temporal']")
    assert await audit.count() >= 8 and await temporal.count() >= 10
    times = await timeline.locator("time").evaluate_all(
        "nodes => nodes.map(n => n.getAttribute('datetime'))"
    )
    assert times == sorted(times)
    await page.screenshot(path=SHOTS / "refundwatch-support-timeline.png", full_page=True)

    # Temporal's side of each audit write is folded away until asked for.
    folded = timeline.locator("li[data-bookkeeping]")
    assert await folded.count() >= 4
    await expect(folded.first).to_be_hidden()
    await page.get_by_label("audit writes").check()
    await expect(folded.first).to_be_visible()
    await expect(folded.first).to_contain_text("Activity record_audit")
    await page.get_by_label("Temporal").uncheck()
    await expect(temporal.first).to_be_hidden()
    await expect(audit.first).to_be_visible()

    # The timed-out refund: calls to a masked number, the loss, then the merchant page.
    await page.goto(f"/support/refunds/{scenario.lost_id}")
    await expect(page.locator(".facts")).to_contain_text("CNY 8,765.00")
    await expect(page.locator("#timeline")).to_contain_text("Call no answer")
    await expect(page.locator("#timeline")).to_contain_text("Closed: timed out, CNY 8,765.00 lost")
    assert scenario.phones[0] not in await page.content()
    await page.screenshot(path=SHOTS / "refundwatch-support-timed-out.png", full_page=True)
    await page.get_by_role("link", name=scenario.merchant_id).first.click()
    await expect(page.get_by_role("heading", level=1)).to_contain_text(scenario.merchant_id)
    await expect(page.locator("table").first).to_contain_text(masked(scenario.phones[0]))
    assert scenario.phones[0] not in await page.content()
    await page.screenshot(path=SHOTS / "refundwatch-support-merchant.png", full_page=True)

    assert console_errors == []
    await page.goto("/support/refunds/R-nope")
    await expect(page.get_by_role("heading", level=1)).to_have_text("No refund “R-nope”")


async def test_losses_page_figures_and_chart_match_the_summary(
    context: BrowserContext,
    stack: LiveStack,
    scenario: Scenario,
    console_errors: list[str],
) -> None:
    query = urlencode({"since": scenario.since.isoformat(), "until": scenario.until.isoformat()})
    page = await sign_in(context, stack, f"/support/losses?{query}")
    await expect(page.get_by_role("heading", name="Saved and lost")).to_be_visible()
    async with stack.services.sessions() as session:
        summary = await losses_summary(session, since=scenario.since, until=scenario.until)
        items = await load_loss_items(session, since=scenario.since, until=scenario.until)
    totals = summary.totals
    await expect(page.locator("#total-saved .big")).to_have_text(money_text(totals.saved))
    await expect(page.locator("#total-lost .big")).to_have_text(money_text(totals.lost))
    await expect(page.locator("#total-saved .count")).to_have_text(str(totals.saved_count))
    await expect(page.locator("#total-lost .count")).to_have_text(str(totals.lost_count))

    channel_rows = page.locator("#by-channel tbody tr")
    await expect(channel_rows).to_have_count(len(summary.by_channel))
    for index, figures in enumerate(summary.by_channel):
        cells = channel_rows.nth(index).locator("th, td")
        await expect(cells.nth(0)).to_have_text(figures.channel.replace("_", "-"))
        await expect(cells.nth(1)).to_have_text(money_text(figures.saved, empty="0"))
        await expect(cells.nth(3)).to_have_text(money_text(figures.lost, empty="0"))
    mine = page.locator("#by-merchant tbody tr", has_text=scenario.merchant_id)
    await expect(mine).to_contain_text("CNY 4,321.00")
    await expect(mine).to_contain_text("CNY 8,765.00")
    await expect(mine).to_contain_text("CNY 5,555.00")

    chart = build_chart(items, since=scenario.since, until=scenario.until)
    bars = page.locator("#chart svg rect.bar")
    await expect(bars).to_have_count(len(chart.bars))
    titles = await bars.locator("title").all_text_contents()
    assert sorted(titles) == sorted(bar.label for bar in chart.bars)
    # Our saved refund was answered in-app; the lost one was last reached by a call.
    assert any(": saved via in_app CNY " in title for title in titles)
    assert any(": lost via call CNY " in title for title in titles)
    await expect(page.locator("#chart .legend")).to_contain_text("in-app")
    await page.screenshot(path=SHOTS / "refundwatch-support-losses.png", full_page=True)
    assert console_errors == []

    await page.goto("/support/losses?since=yesterday-ish")
    await expect(page.get_by_role("alert")).to_contain_text("use a date (2026-11-01)")
