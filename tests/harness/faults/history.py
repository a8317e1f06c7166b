"""What a watch decided after a call to a number was refused for good, read from its history.

The workflow's rule (workflows/watch/steps.py): a final provider error on a call moves to the
next contact unless, at the workflow task that receives the refusal, ``workflow.now()`` is at
or past the deadline. That task's start is the workflow's clock, so it — not the sandbox's
moment of refusal — is what a check must compare with the deadline: on a loaded machine the
refusal can take more than a second to travel back (activity completion, task queue, worker).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime

from temporalio.api.enums.v1 import EventType
from temporalio.api.history.v1 import HistoryEvent
from temporalio.client import Client

from domain.vocabulary import SendStatus
from workflows.ids import workflow_id_for

__all__ = ["CallRefusal", "call_refusals"]

_PLACE_CALL = "place_call"


@dataclass(frozen=True)
class CallRefusal:
    """A call the provider refused for good, and what the watch did next."""

    contact_index: int
    decided_at: datetime | None  # start of the task that received the refusal; None: not yet
    next_contact_scheduled: bool  # a call to a later contact was scheduled after it


def _payload(event_payloads: object) -> dict[str, object]:
    payloads = getattr(event_payloads, "payloads", [])
    if not payloads:
        return {}
    value = json.loads(payloads[0].data)
    return value if isinstance(value, dict) else {}


def _at(event: HistoryEvent) -> datetime:
    return event.event_time.ToDatetime().replace(tzinfo=UTC)


async def call_refusals(client: Client, refund_id: str) -> list[CallRefusal]:
    """Every place_call that came back FAILED (a final provider error), with the moment the
    workflow saw it and whether a call to a later contact followed."""
    handle = client.get_workflow_handle(workflow_id_for(refund_id))
    events = [event async for event in handle.fetch_history_events()]
    contact_of: dict[int, int] = {}  # scheduled event id → contact index, place_call only
    refusals: list[CallRefusal] = []
    waiting: int | None = None  # index into refusals of one not yet seen by a task
    for event in events:
        kind = event.event_type
        if kind == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
            attrs = event.activity_task_scheduled_event_attributes
            if attrs.activity_type.name != _PLACE_CALL:
                continue
            index = int(str(_payload(attrs.input).get("contact_index", 0)))
            contact_of[event.event_id] = index
            refusals = [
                CallRefusal(r.contact_index, r.decided_at, True)
                if r.decided_at is not None and index > r.contact_index
                else r
                for r in refusals
            ]
        elif kind == EventType.EVENT_TYPE_ACTIVITY_TASK_COMPLETED:
            done = event.activity_task_completed_event_attributes
            index_or_none = contact_of.get(done.scheduled_event_id)
            if index_or_none is None:
                continue
            if _payload(done.result).get("status") == SendStatus.FAILED:
                refusals.append(CallRefusal(index_or_none, None, False))
                waiting = len(refusals) - 1
        elif kind == EventType.EVENT_TYPE_WORKFLOW_TASK_STARTED and waiting is not None:
            refusals[waiting] = CallRefusal(refusals[waiting].contact_index, _at(event), False)
            waiting = None
    return refusals
