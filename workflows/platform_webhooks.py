"""Telling the platform: ``tell_platform`` (called from the refund watch) and the workflow that
delivers one event until the platform acknowledges it.

The watch never waits for delivery: it stores the event (one quick activity) and starts
``OutboundDeliveryWorkflow`` as an abandoned child, which outlives the watch and retries with
backoff. Event ids are derived from the watch's workflow id, so a replay or a second call with
the same ``key`` finds the same event, and the child's id ``outbound-<event id>`` is started
once.
"""

from __future__ import annotations

import contextlib
from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy, WorkflowIDReusePolicy
from temporalio.exceptions import (
    ActivityError,
    ApplicationError,
    WorkflowAlreadyStartedError,
)
from temporalio.exceptions import (
    TimeoutError as TemporalTimeout,
)

with workflow.unsafe.imports_passed_through():
    from activities.platform_webhooks import OutboundActivities
    from platform_webhooks.types import (
        EVENT_TYPES,
        NEEDS_EVIDENCE,
        AbandonInput,
        DeliverInput,
        DeliveryOptions,
        OutboundDeliveryInput,
        OutboundEventCreated,
        OutboundEventInput,
        delivery_workflow_id,
        event_id_for,
    )

__all__ = ["OutboundDeliveryWorkflow", "tell_platform"]

_QUICK = timedelta(seconds=30)
_QUICK_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(seconds=30),
)
# One HTTP attempt is bounded by REFUNDWATCH_PLATFORM_WEBHOOK_TIMEOUT (at most 60 s).
_ATTEMPT_TIMEOUT = timedelta(seconds=90)


async def tell_platform(
    kind: str,
    refund_id: str,
    merchant_id: str,
    key: str,
    *,
    evidence_id: int | None = None,
    delivery: DeliveryOptions | None = None,
    subject: str = "",
) -> str:
    """Store event ``kind`` for the refund and start its delivery; returns the event id.

    Call from workflow code only. ``key`` tells apart two events of the same kind in one watch
    (e.g. the evidence id); the same ``key`` again returns the same event, sent once.
    ``delivery`` overrides the worker's configured retry options (tests).
    """
    if kind not in EVENT_TYPES:
        raise ValueError(f"unknown platform event type {kind!r}")  # a bug: fails the task
    if kind in NEEDS_EVIDENCE and evidence_id is None:
        raise ValueError(f"{kind} needs evidence_id")
    watch_id = workflow.info().workflow_id
    event_id = event_id_for(watch_id, kind, key)
    created: OutboundEventCreated = await workflow.execute_activity_method(
        OutboundActivities.create_outbound_event,
        OutboundEventInput(
            event_id, kind, refund_id, merchant_id, evidence_id, watch_id, subject=subject
        ),
        start_to_close_timeout=_QUICK,
        retry_policy=_QUICK_RETRY,
    )
    # Already running or delivered: once is enough.
    with contextlib.suppress(WorkflowAlreadyStartedError):
        await workflow.start_child_workflow(
            OutboundDeliveryWorkflow.run,
            OutboundDeliveryInput(event_id, delivery or created.delivery),
            id=delivery_workflow_id(event_id),
            # Delivery outlives the watch; the watch does not wait for it.
            parent_close_policy=workflow.ParentClosePolicy.ABANDON,
            # A finished delivery is never started again; one that gave up may be.
            id_reuse_policy=WorkflowIDReusePolicy.ALLOW_DUPLICATE_FAILED_ONLY,
            static_summary=f"{kind} for refund {refund_id}",
        )
    return event_id


@workflow.defn(name="OutboundDeliveryWorkflow")
class OutboundDeliveryWorkflow:
    """Deliver one stored event: retry the attempt with backoff until it is acknowledged (2xx),
    refused (410), or ``give_up_after_s`` has passed."""

    @workflow.run
    async def run(self, params: OutboundDeliveryInput) -> str:
        options = params.delivery
        try:
            result: str = await workflow.execute_activity_method(
                OutboundActivities.deliver_outbound_event,
                DeliverInput(params.event_id, options.max_retry_interval_s),
                start_to_close_timeout=_ATTEMPT_TIMEOUT,
                schedule_to_close_timeout=timedelta(seconds=options.give_up_after_s),
                retry_policy=RetryPolicy(
                    initial_interval=timedelta(seconds=1),
                    backoff_coefficient=2.0,
                    maximum_interval=timedelta(seconds=max(1, options.max_retry_interval_s)),
                    maximum_attempts=0,  # until acknowledged or the deadline above
                ),
            )
            return result
        except ActivityError as err:
            if isinstance(err.cause, TemporalTimeout):
                reason = f"not acknowledged within {options.give_up_after_s} s"
            else:
                reason = str(err.cause or err)
            await workflow.execute_activity_method(
                OutboundActivities.abandon_outbound_event,
                AbandonInput(params.event_id, reason),
                start_to_close_timeout=_QUICK,
                retry_policy=_QUICK_RETRY,
            )
            raise ApplicationError(reason, type="WebhookAbandoned", non_retryable=True) from err
