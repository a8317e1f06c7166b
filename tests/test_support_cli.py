"""The support CLI as staff run it: a real `refundwatch` process against the live stack's
PostgreSQL and Temporal, answering "what happened with refund X?", "which refunds are about to
time out?", "how much did we save / lose, through which channel?" and "who is this merchant?"."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr
from sqlmodel import col, select

from api.auth import merchant_token
from config.settings import Settings
from db.models import AuditEvent
from support.losses import losses_summary
from tests.harness.stack import LiveStack

ROOT = Path(__file__).resolve().parent.parent
NEVER = {"calls": [{"answer": "no-answer"}]}


@dataclass
class Scenario:
    """One merchant with a refund saved (in-app answer, then resolution), one lost (timed
    out) and one still open; ``since``/``until`` bracket the two closings."""

    merchant_id: str
    phones: list[str]
    saved_id: str
    lost_id: str
    open_id: str
    since: datetime
    until: datetime


async def build_scenario(stack: LiveStack) -> Scenario:
    since = datetime.now(UTC) - timedelta(seconds=1)
    merchant_id, phones = await stack.merchant([NEVER])
    saved = stack.refund_body(merchant_id, amount="4321.00", deadline_in=60)
    lost = stack.refund_body(merchant_id, amount="8765.00", deadline_in=7)
    still_open = stack.refund_body(merchant_id, amount="5555.00", deadline_in=600)
    for body in (lost, saved, still_open):
        assert (await stack.intake(body)).status_code == 201
    token = merchant_token(stack.settings.merchant_token_secret.get_secret_value(), merchant_id)
    answer = await stack.http.post(
        f"/v1/merchant/refunds/{saved['refund_id']}/answer",
        headers={"Authorization": f"Bearer {token}"},
        json={"action": "handle_now", "request_id": "req-1"},
    )
    assert answer.status_code == 200, answer.text
    resolution = await stack.http.post(
        f"/v1/refunds/{saved['refund_id']}/resolution",
        headers=stack.platform(),
        json={"resolution": "rejected", "event_id": f"ev-{saved['refund_id']}"},
    )
    assert resolution.status_code == 200, resolution.text
    outcomes = await asyncio.gather(
        stack.outcome(saved["refund_id"]), stack.outcome(lost["refund_id"], timeout=40)
    )
    assert list(outcomes) == ["resolved", "timed_out"]
    # The outcome activity commits right after the workflow's last step: give it a moment.
    await stack.wait_view(lost["refund_id"], lambda v: v["loss"] is not None, timeout=10)
    await stack.wait_view(saved["refund_id"], lambda v: v["state"] == "resolved", timeout=10)
    return Scenario(
        merchant_id=merchant_id,
        phones=phones,
        saved_id=saved["refund_id"],
        lost_id=lost["refund_id"],
        open_id=still_open["refund_id"],
        since=since,
        until=datetime.now(UTC) + timedelta(seconds=1),
    )


async def close_open_refund(stack: LiveStack, scenario: Scenario) -> None:
    """Leave nothing running for later tests."""
    await stack.http.post(
        f"/v1/refunds/{scenario.open_id}/resolution",
        headers=stack.platform(),
        json={"resolution": "cancelled", "event_id": f"ev-{scenario.open_id}"},
    )


@pytest.fixture(scope="module")
async def scenario(stack: LiveStack) -> AsyncIterator[Scenario]:
    built = await build_scenario(stack)
    yield built
    await close_open_refund(stack, built)


def cli_env(stack: LiveStack) -> dict[str, str]:
    """The live stack's settings as the environment a support person's shell would have."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("REFUNDWATCH_", "TWILIO_"))}
    settings: Settings = stack.settings
    for name, field in Settings.model_fields.items():
        value: Any = getattr(settings, name)
        if value is None:
            continue
        if isinstance(value, list):
            value = ",".join(v.get_secret_value() if isinstance(v, SecretStr) else v for v in value)
        elif isinstance(value, SecretStr):
            value = value.get_secret_value()
        env[str(field.validation_alias)] = str(value)
    env["TEMPORAL_ADDRESS"] = stack.client.service_client.config.target_host
    env["COLUMNS"] = "220"  # rich wraps tables to the terminal; a wide one keeps rows whole
    env["NO_COLOR"] = "1"
    return env


@dataclass
class Run:
    code: int
    out: str
    err: str

    def json(self) -> Any:
        return json.loads(self.out)


async def refundwatch(stack: LiveStack, *args: str, **env: str) -> Run:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "cli.main",
        *args,
        cwd=ROOT,
        env={**cli_env(stack), **env},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), 60)
    assert process.returncode is not None
    return Run(process.returncode, out.decode(), err.decode())


async def cli_views(stack: LiveStack, refund_id: str | None, merchant_id: str | None) -> int:
    async with stack.services.sessions() as session:
        statement = select(AuditEvent).where(
            AuditEvent.kind == "support.viewed", AuditEvent.actor == "cli"
        )
        if refund_id is not None:
            statement = statement.where(AuditEvent.refund_id == refund_id)
        if merchant_id is not None:
            statement = statement.where(
                AuditEvent.merchant_id == merchant_id, col(AuditEvent.refund_id).is_(None)
            )
        return len((await session.exec(statement)).all())


async def test_refund_show_merges_our_records_with_the_workflow_history(
    stack: LiveStack, scenario: Scenario
) -> None:
    run = await refundwatch(stack, "refund", "show", scenario.saved_id, "--json")
    assert run.code == 0, run.err
    history = run.json()
    assert history["refund"]["state"] == "resolved"
    assert history["temporal_note"] is None
    entries = history["entries"]
    by_source: dict[str, set[str]] = {"audit": set(), "temporal": set()}
    for entry in entries:
        by_source[entry["source"]].add(entry["kind"])
    assert {"refund.received", "risk.assessed", "notice.in_app", "merchant.answered"} <= (
        by_source["audit"]
    )
    assert {"platform.resolution", "refund.resolved"} <= by_source["audit"]
    assert {"workflow.started", "update.accepted", "signal.received", "activity.scheduled"} <= (
        by_source["temporal"]
    )
    assert {"activity.completed", "workflow.completed"} <= by_source["temporal"]
    times = [datetime.fromisoformat(entry["at"]) for entry in entries]
    assert times == sorted(times), "one timeline in time order"
    signal = next(e for e in entries if e["kind"] == "signal.received")
    assert signal["summary"].startswith("Signal resolve received")
    assert "resolution=rejected" in signal["summary"]

    table = await refundwatch(stack, "refund", "show", scenario.saved_id)
    assert table.code == 0, table.err
    assert f"Refund {scenario.saved_id}" in table.out
    assert "Merchant answered handle_now by in_app" in table.out
    assert "Workflow completed → resolved" in table.out
    assert "Update answer accepted action=handle_now" in table.out
    assert " audit " in table.out and " temporal " in table.out
    # Two full reads, two audit records.
    assert await cli_views(stack, scenario.saved_id, None) == 2


async def test_refund_show_of_a_timed_out_refund_shows_the_loss(
    stack: LiveStack, scenario: Scenario
) -> None:
    run = await refundwatch(stack, "refund", "show", scenario.lost_id, "--only", "audit")
    assert run.code == 0, run.err
    assert "state timed_out" in run.out and "loss CNY 8,765.00" in run.out
    assert "Closed: timed out, CNY 8,765.00 lost" in run.out
    assert "Temporal events" in run.out and "0 Temporal events" in run.out
    for phone in scenario.phones:
        assert phone not in run.out


async def test_refund_show_without_temporal_still_shows_our_records(
    stack: LiveStack, scenario: Scenario
) -> None:
    run = await refundwatch(
        stack, "refund", "show", scenario.saved_id, "--json", TEMPORAL_ADDRESS="127.0.0.1:9"
    )
    assert run.code == 0, run.err
    history = run.json()
    assert {entry["source"] for entry in history["entries"]} == {"audit"}
    assert "Temporal at 127.0.0.1:9 unreachable" in history["temporal_note"]
    assert "check TEMPORAL_ADDRESS" in history["temporal_note"]


async def test_unknown_refund_exits_1_and_says_what_to_do(stack: LiveStack) -> None:
    run = await refundwatch(stack, "refund", "show", "R-does-not-exist")
    assert run.code == 1
    assert "refund R-does-not-exist not found" in run.err
    assert "refundwatch refunds at-risk" in run.err
    assert "Traceback" not in run.err


async def test_at_risk_lists_the_open_refund_with_a_masked_contact(
    stack: LiveStack, scenario: Scenario
) -> None:
    run = await refundwatch(stack, "refunds", "at-risk", "--limit", "1000", "--json")
    assert run.code == 0, run.err
    rows = run.json()
    ids = [row["refund_id"] for row in rows]
    assert scenario.open_id in ids
    assert scenario.saved_id not in ids and scenario.lost_id not in ids
    deadlines = [row["deadline_at"] for row in rows]
    assert deadlines == sorted(deadlines)
    row = rows[ids.index(scenario.open_id)]
    assert row["amount"] == "5555.00" and row["stage"] in {"watching", "in_app_sent"}
    phone = scenario.phones[0]
    assert row["contact"] == f"C*** {phone[:6]}****{phone[-4:]}"

    table = await refundwatch(stack, "refunds", "at-risk", "--merchant", scenario.merchant_id)
    assert table.code == 0, table.err
    assert scenario.open_id in table.out and "CNY 5,555.00" in table.out
    assert phone not in table.out


async def test_losses_match_the_refunds_we_resolved_and_lost(
    stack: LiveStack, scenario: Scenario
) -> None:
    since, until = scenario.since.isoformat(), scenario.until.isoformat()
    run = await refundwatch(stack, "losses", "--since", since, "--until", until, "--json")
    assert run.code == 0, run.err
    summary = run.json()
    mine = next(m for m in summary["by_merchant"] if m["merchant_id"] == scenario.merchant_id)
    assert mine["saved"] == {"CNY": "4321.00"} and mine["saved_count"] == 1
    assert mine["lost"] == {"CNY": "8765.00"} and mine["lost_count"] == 1
    assert mine["open"] == {"CNY": "5555.00"} and mine["open_count"] == 1
    async with stack.services.sessions() as session:
        expected = await losses_summary(session, since=scenario.since, until=scenario.until)
    assert summary["totals"]["saved"] == expected.totals.saved
    assert summary["totals"]["lost"] == expected.totals.lost
    channels = {row["channel"]: row for row in summary["by_channel"]}
    assert list(channels) == ["call", "sms", "in_app", "none"]
    for row in expected.by_channel:
        assert channels[row.channel]["saved"] == row.saved
        assert channels[row.channel]["lost"] == row.lost
    # Saved is credited to the channel of the merchant's first answer: the in-app button.
    assert channels["in_app"]["saved_count"] >= 1

    table = await refundwatch(stack, "losses", "--since", "7d")
    assert table.code == 0, table.err
    assert scenario.merchant_id in table.out
    assert "CNY 8,765.00" in table.out and "CNY 4,321.00" in table.out

    bad = await refundwatch(stack, "losses", "--since", "last tuesday")
    assert bad.code == 2
    assert "use a date (2026-11-01)" in bad.err


async def test_merchant_show_masks_numbers_and_lists_open_refunds(
    stack: LiveStack, scenario: Scenario
) -> None:
    before = await cli_views(stack, None, scenario.merchant_id)
    run = await refundwatch(stack, "merchant", "show", scenario.merchant_id)
    assert run.code == 0, run.err
    phone = scenario.phones[0]
    assert phone not in run.out
    assert f"{phone[:6]}****{phone[-4:]}" in run.out
    assert "Contact 0" not in run.out and "C***" in run.out
    assert scenario.open_id in run.out

    as_json = await refundwatch(stack, "merchant", "show", scenario.merchant_id, "--json")
    assert as_json.code == 0, as_json.err
    view = as_json.json()
    assert phone not in as_json.out
    assert view["contacts"][0]["phone"] == f"{phone[:6]}****{phone[-4:]}"
    assert view["contacts"][0]["sms_opted_out"] is False
    assert view["totals"]["lost"] == {"CNY": "8765.00"}
    assert view["totals"]["saved"] == {"CNY": "4321.00"}
    assert [r["refund_id"] for r in view["open_refunds"]] == [scenario.open_id]
    assert await cli_views(stack, None, scenario.merchant_id) == before + 2

    missing = await refundwatch(stack, "merchant", "show", "m-nobody")
    assert missing.code == 1 and "merchant m-nobody not found" in missing.err


async def test_json_api_gives_support_the_same_answers(
    stack: LiveStack, scenario: Scenario
) -> None:
    at_risk = await stack.http.get("/v1/support/at-risk", headers=stack.support())
    assert at_risk.status_code == 200
    assert scenario.open_id in [row["refund_id"] for row in at_risk.json()]
    token = merchant_token(
        stack.settings.merchant_token_secret.get_secret_value(), scenario.merchant_id
    )
    merchant_call = await stack.http.get(
        "/v1/support/at-risk", headers={"Authorization": f"Bearer {token}"}
    )
    assert merchant_call.status_code == 403

    window = {"since": scenario.since.isoformat(), "until": scenario.until.isoformat()}
    api = await stack.http.get("/v1/support/losses", params=window, headers=stack.support())
    assert api.status_code == 200
    cli = await refundwatch(stack, "losses", "--since", window["since"], "--until", window["until"])
    assert cli.code == 0
    mine = next(m for m in api.json()["by_merchant"] if m["merchant_id"] == scenario.merchant_id)
    assert (mine["saved"], mine["lost"]) == ({"CNY": "4321.00"}, {"CNY": "8765.00"})
    bad = await stack.http.get(
        "/v1/support/losses", params={"since": "soon"}, headers=stack.support()
    )
    assert bad.status_code == 422
    assert bad.json()["detail"][0]["loc"] == ["query", "since"]

    merchant = await stack.http.get(
        f"/v1/support/merchants/{scenario.merchant_id}", headers=stack.support()
    )
    assert merchant.status_code == 200
    assert scenario.phones[0] not in merchant.text
    assert merchant.json()["contacts"][0]["phone"] == masked_phone(scenario.phones[0])

    history = await stack.http.get(
        f"/v1/support/refunds/{scenario.lost_id}/history", headers=stack.support()
    )
    assert history.status_code == 200
    sources = {entry["source"] for entry in history.json()["entries"]}
    assert sources == {"audit", "temporal"}
    assert scenario.phones[0] not in history.text


def masked_phone(phone: str) -> str:
    return f"{phone[:6]}****{phone[-4:]}"
