"""Determinism: recorded histories of the main scenarios replay on today's workflow code.

Each ``tests/workflow_histories/*.json`` is a finished RefundWatchWorkflow (keypad 1 then
resolved, nobody
answers so it times out, the platform resolves early, an undelivered SMS brings the call
forward, an in-app acknowledgement then the deadline). The SDK's Replayer runs today's
``RefundWatchWorkflow`` against each; any command that differs from the recorded one is a
non-determinism error. That is what a running watch would hit after a deploy.

If this fails after a change to workflows/:
  * the change alters what running watches do: guard it with ``workflow.patched("<id>")``
    (old branch for histories without the marker, new branch otherwise) and keep these
    histories as they are — they now prove the old branch still replays;
  * once no watch recorded before the change can still be running (the longest deadline
    plus a margin), deprecate the patch (``workflow.deprecate_patch``) and re-record.

Re-record (after an intended, patched change; then commit the new JSON files):
    .venv/bin/python -m tests.workflow_histories.record
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from temporalio import workflow
from temporalio.client import WorkflowHistory
from temporalio.worker import Replayer

from workflows.refund_watch import RefundWatchWorkflow

HISTORIES = sorted((Path(__file__).parent / "workflow_histories").glob("*.json"))


def test_the_main_scenarios_are_recorded() -> None:
    names = {path.stem for path in HISTORIES}
    assert {"keypad_1_then_resolved", "nobody_answers_times_out", "platform_resolves_early",
            "sms_undelivered_brings_the_call_forward"} <= names  # fmt: skip


@pytest.mark.parametrize(
    "document",
    [json.loads(path.read_text()) for path in HISTORIES],
    ids=[p.stem for p in HISTORIES],
)
async def test_recorded_history_replays_on_current_workflow_code(document: dict[str, Any]) -> None:
    history = WorkflowHistory.from_json(document["workflow_id"], document["history"])
    result = await Replayer(workflows=[RefundWatchWorkflow]).replay_workflow(
        history, raise_on_replay_failure=True
    )
    assert result.replay_failure is None


def test_the_names_running_watches_know_are_pinned() -> None:
    """Renaming a workflow, signal, update or query would strand running watches (and their
    recorded histories): these names are part of the contract with Temporal."""
    definition = workflow._Definition.from_class(RefundWatchWorkflow)
    assert definition is not None
    assert definition.name == "RefundWatchWorkflow"
    assert set(definition.signals) == {
        "merchant_answered",
        "evidence_submitted",
        "resolve",
        "move_deadline",
        "delivery_reported",
        "notification_status",
    }
    assert set(definition.updates) == {"answer", "answer_in_app"}
    assert set(definition.queries) == {"status", "evidence_verdict"}
