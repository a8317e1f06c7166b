"""Client-side helpers: start a watch idempotently, and message it. Used by the API (and later
the reconciler); never imported by workflow code."""

from __future__ import annotations

import contextlib

from temporalio.client import Client, WorkflowHandle
from temporalio.common import (
    SearchAttributePair,
    TypedSearchAttributes,
    WorkflowIDConflictPolicy,
    WorkflowIDReusePolicy,
)
from temporalio.exceptions import WorkflowAlreadyStartedError

from workflows import search_attributes as sa
from workflows.ids import workflow_id_for
from workflows.inputs import RefundWatchInput
from workflows.refund_watch import RefundWatchWorkflow

__all__ = ["start_watch", "watch_handle"]


async def start_watch(client: Client, task_queue: str, params: RefundWatchInput) -> str:
    """Start the refund's workflow unless it exists (running or finished). Returns its id."""
    workflow_id = workflow_id_for(params.refund_id)
    attributes = TypedSearchAttributes(
        [
            SearchAttributePair(sa.MERCHANT_ID, params.merchant_id),
            SearchAttributePair(sa.AMOUNT_MINOR, params.amount_minor),
            SearchAttributePair(sa.RISK_SCORE, params.risk_score),
            SearchAttributePair(sa.STAGE, "watching"),
            SearchAttributePair(sa.DEADLINE, params.deadline),
        ]
    )
    # WorkflowAlreadyStartedError: it ran to completion already; one workflow per refund, ever.
    with contextlib.suppress(WorkflowAlreadyStartedError):
        await client.start_workflow(
            RefundWatchWorkflow.run,
            params,
            id=workflow_id,
            task_queue=task_queue,
            id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
            id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
            search_attributes=attributes,
        )
    return workflow_id


def watch_handle(client: Client, refund_id: str) -> WorkflowHandle[RefundWatchWorkflow, str]:
    return client.get_workflow_handle_for(RefundWatchWorkflow.run, workflow_id_for(refund_id))
