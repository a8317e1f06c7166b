"""deploy/grafana and deploy/prometheus: the files parse, have the shape Grafana and
Prometheus read, and every metric they name is one refundwatch really exports — read from a
real scrape of the API's /metrics and of a worker's SDK metrics after it ran a workflow."""

from __future__ import annotations

import asyncio
import json
import re
import uuid
from pathlib import Path

import httpx
import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families
from temporalio.client import Client, WorkflowFailureError
from temporalio.testing import WorkflowEnvironment

from observability import sdk_runtime
from platform_webhooks.types import OutboundDeliveryInput
from tests.harness.http_server import free_port
from tests.harness.stack import LiveStack
from worker import build_worker
from workflows.platform_webhooks import OutboundDeliveryWorkflow

DEPLOY = Path(__file__).resolve().parent.parent / "deploy"
DASHBOARD = DEPLOY / "grafana" / "refundwatch-dashboard.json"
ALERTS = DEPLOY / "prometheus" / "refundwatch-alerts.yml"
METRIC = re.compile(r"\b((?:refundwatch|temporal)_[a-z0-9_]+)\b")
SUFFIXES = ("", "_total", "_bucket", "_count", "_sum", "_created")


def _dashboard_exprs() -> list[str]:
    dashboard = json.loads(DASHBOARD.read_text())
    assert dashboard["uid"] and dashboard["title"]
    exprs = []
    for panel in dashboard["panels"]:
        assert panel["type"] and panel["title"] and panel["gridPos"]
        exprs += [target["expr"] for target in panel["targets"]]
    return exprs


def _alert_exprs() -> list[str]:
    rules = yaml.safe_load(ALERTS.read_text())
    exprs = []
    names = set()
    for group in rules["groups"]:
        assert group["name"] and group["rules"]
        for rule in group["rules"]:
            assert set(rule) <= {"alert", "expr", "for", "labels", "annotations"}, rule
            assert rule["alert"] not in names
            names.add(rule["alert"])
            assert rule["annotations"]["summary"]
            if "for" in rule:
                assert re.fullmatch(r"\d+[smh]", rule["for"]), rule["for"]
            exprs.append(str(rule["expr"]))
    return exprs


def _balanced(expr: str) -> bool:
    depth = 0
    for char in expr:
        depth += {"(": 1, ")": -1, "{": 1, "}": -1, "[": 1, "]": -1}.get(char, 0)
        if depth < 0:
            return False
    return depth == 0


def _exported(exposition: str) -> set[str]:
    names = set()
    for family in text_string_to_metric_families(exposition):
        names.add(family.name)
        names.update(sample.name for sample in family.samples)
    return names


async def _worker_exposition(temporal_env: WorkflowEnvironment, stack: LiveStack) -> str:
    """A worker with SDK metrics on, after one workflow with a failing activity ran on it."""
    port = free_port()
    settings = stack.settings.model_copy(
        update={"metrics_port": port, "temporal_task_queue": f"obs-{uuid.uuid4().hex[:6]}"}
    )
    runtime = sdk_runtime(settings)
    assert runtime is not None
    client = await Client.connect(
        temporal_env.client.service_client.config.target_host,
        namespace=settings.temporal_namespace,
        runtime=runtime,
    )
    async with build_worker(client, settings) as worker, worker, httpx.AsyncClient() as http:
        handle = await client.start_workflow(
            OutboundDeliveryWorkflow.run,
            OutboundDeliveryInput(f"missing-{uuid.uuid4().hex[:6]}"),
            id=f"obs-{uuid.uuid4().hex[:6]}",
            task_queue=settings.temporal_task_queue,
        )
        with pytest.raises(WorkflowFailureError):
            await handle.result()
        # A workflow type this worker does not know: its task fails (and is retried).
        unknown = await client.start_workflow(
            "NoSuchWorkflow",
            id=f"obs-x-{uuid.uuid4().hex[:6]}",
            task_queue=settings.temporal_task_queue,
        )
        await asyncio.sleep(2.5)  # its task failed; the exporter's next collection
        await unknown.terminate("test over")
        return (await http.get(f"http://127.0.0.1:{port}/metrics")).text


async def test_dashboard_and_alerts_parse_and_name_metrics_that_exist(
    stack: LiveStack, temporal_env: WorkflowEnvironment
) -> None:
    exprs = _dashboard_exprs() + _alert_exprs()
    assert all(_balanced(expr) for expr in exprs), [e for e in exprs if not _balanced(e)]
    named = {name for expr in exprs for name in METRIC.findall(expr)}
    assert "temporal_workflow_task_schedule_to_start_latency_bucket" in named  # scaling signal
    assert "refundwatch_watches_near_deadline_uncontacted" in named
    api = await stack.http.get("/metrics", headers=stack.support())
    assert api.status_code == 200
    exported = _exported(api.text) | _exported(await _worker_exposition(temporal_env, stack))
    missing = {
        name
        for name in named
        if not any(name.removesuffix(s) + t in exported for s in SUFFIXES for t in SUFFIXES)
    }
    assert not missing, f"named but not exported: {sorted(missing)}"
