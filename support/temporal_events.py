"""Temporal workflow history events as timeline entries support staff can read.

Only the events that tell the story are kept: the start, signals and updates received, timers
fired, activities scheduled / completed / failed, stage changes (search attributes) and the end.
Workflow-task bookkeeping is left out. Payloads are decoded with the client's converter; our
histories carry contact indexes rather than numbers, and any E.164 number is masked anyway.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from google.protobuf.duration_pb2 import Duration
from temporalio.api.common.v1 import Payload, Payloads
from temporalio.api.history.v1 import HistoryEvent
from temporalio.converter import PayloadConverter

from domain.masking import mask_phone

__all__ = ["TemporalEntry", "convert_history"]

_PHONE = re.compile(r"(?<![\w+])\+\d{7,15}(?!\d)")
# Arguments everyone already knows from the page they are on: left out of one-line summaries.
_IDS = {"refund_id", "merchant_id", "workflow_id", "idempotency_key", "dedup_key"}


@dataclass(frozen=True, slots=True)
class TemporalEntry:
    """One event worth showing; the history module turns it into a timeline entry."""

    at: datetime
    kind: str
    summary: str
    detail: dict[str, Any]
    event_id: int


def _mask(value: Any) -> Any:
    if isinstance(value, str):
        return _PHONE.sub(lambda m: mask_phone(m.group(0)), value)
    if isinstance(value, dict):
        return {k: _mask(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_mask(v) for v in value]
    return value


def _seconds(duration: Duration) -> float:
    return round(duration.seconds + duration.nanos / 1e9, 3)


def _brief(values: Iterable[Any]) -> str:
    """'step=sms_reminder attempt=1' from decoded arguments (ids and nested data left out)."""
    parts: list[str] = []
    for value in values:
        if isinstance(value, dict):
            parts += [
                f"{k}={v}"
                for k, v in value.items()
                if k not in _IDS and v not in (None, "", [], {}) and not isinstance(v, dict | list)
            ]
        elif isinstance(value, str | int | float | bool):
            parts.append(str(value))
    return " ".join(parts)


class _Converter:
    def __init__(self, payloads: PayloadConverter) -> None:
        self._payloads = payloads

    def decode(self, payloads: Payloads | Sequence[Payload]) -> list[Any]:
        items = list(payloads.payloads) if isinstance(payloads, Payloads) else list(payloads)
        if not items:
            return []
        try:
            return [_mask(v) for v in self._payloads.from_payloads(items)]
        except Exception:  # an undecodable payload must not hide the rest of the history
            return ["<undecodable payload>"]

    def event(
        self, event: HistoryEvent, activities: dict[int, str], timers: dict[int, float]
    ) -> TemporalEntry | None:
        at = event.event_time.ToDatetime(tzinfo=UTC)
        which = event.WhichOneof("attributes")

        def entry(kind: str, summary: str, **detail: Any) -> TemporalEntry:
            return TemporalEntry(at, kind, summary.strip(), detail, event.event_id)

        if which == "workflow_execution_started_event_attributes":
            a = event.workflow_execution_started_event_attributes
            return entry(
                "workflow.started",
                f"Workflow {a.workflow_type.name} started on task queue {a.task_queue.name}",
                workflow_type=a.workflow_type.name,
                task_queue=a.task_queue.name,
            )
        if which == "workflow_execution_signaled_event_attributes":
            signal = event.workflow_execution_signaled_event_attributes
            args = self.decode(signal.input)
            return entry(
                "signal.received",
                f"Signal {signal.signal_name} received {_brief(args)}",
                signal=signal.signal_name,
                args=args,
            )
        if which == "workflow_execution_update_accepted_event_attributes":
            request = event.workflow_execution_update_accepted_event_attributes.accepted_request
            args = self.decode(request.input.args)
            return entry(
                "update.accepted",
                f"Update {request.input.name} accepted {_brief(args)}",
                update=request.input.name,
                update_id=request.meta.update_id,
                args=args,
            )
        if which == "workflow_execution_update_completed_event_attributes":
            c = event.workflow_execution_update_completed_event_attributes
            if c.outcome.HasField("failure"):
                return entry(
                    "update.failed",
                    f"Update failed: {c.outcome.failure.message}",
                    update_id=c.meta.update_id,
                )
            result = self.decode(c.outcome.success)
            return entry(
                "update.completed",
                f"Update completed → {_brief(result)}",
                update_id=c.meta.update_id,
                result=result,
            )
        if which == "timer_started_event_attributes":
            timers[event.event_id] = _seconds(
                event.timer_started_event_attributes.start_to_fire_timeout
            )
            return None
        if which == "timer_fired_event_attributes":
            waited = timers.get(event.timer_fired_event_attributes.started_event_id)
            text = f"Timer fired after {waited:g} s" if waited is not None else "Timer fired"
            return entry("timer.fired", text, seconds=waited)
        if which == "activity_task_scheduled_event_attributes":
            scheduled = event.activity_task_scheduled_event_attributes
            name = scheduled.activity_type.name
            activities[event.event_id] = name
            args = self.decode(scheduled.input)
            return entry(
                "activity.scheduled",
                f"Activity {name} scheduled {_brief(args)}",
                activity=name,
                args=args,
            )
        if which == "marker_recorded_event_attributes":
            marker = event.marker_recorded_event_attributes
            if marker.marker_name != "core_local_activity":
                return None  # patch markers and the like: bookkeeping of the SDK itself
            data = self.decode(marker.details["data"].payloads)
            name = (
                str(data[0].get("activity_type", "?"))
                if data and isinstance(data[0], dict)
                else "?"
            )
            if marker.HasField("failure"):
                message = _mask(marker.failure.message)
                text = f"Local activity {name} failed: {message}"
                return entry("local_activity.failed", text, activity=name, error=message)
            return entry(
                "local_activity.completed", f"Activity {name} completed (local)", activity=name
            )
        if which == "activity_task_completed_event_attributes":
            done = event.activity_task_completed_event_attributes
            name = activities.get(done.scheduled_event_id, "?")
            result = self.decode(done.result)
            return entry(
                "activity.completed",
                f"Activity {name} completed {_brief(result)}",
                activity=name,
                result=result,
            )
        if which == "activity_task_failed_event_attributes":
            failed = event.activity_task_failed_event_attributes
            name = activities.get(failed.scheduled_event_id, "?")
            message = _mask(failed.failure.message)
            text = f"Activity {name} failed: {message}"
            return entry("activity.failed", text, activity=name, error=message)
        if which == "activity_task_timed_out_event_attributes":
            timed_out = event.activity_task_timed_out_event_attributes
            name = activities.get(timed_out.scheduled_event_id, "?")
            return entry("activity.timed_out", f"Activity {name} timed out", activity=name)
        if which == "upsert_workflow_search_attributes_event_attributes":
            fields = event.upsert_workflow_search_attributes_event_attributes.search_attributes
            values: dict[str, Any] = {}
            for name, payload in sorted(fields.indexed_fields.items()):
                decoded = self.decode([payload])
                values[name] = decoded[0] if decoded else None
            text = ", ".join(f"{k}={v}" for k, v in values.items())
            return entry("search_attributes.set", f"Search attributes set: {text}", **values)
        if which == "workflow_execution_completed_event_attributes":
            result = self.decode(event.workflow_execution_completed_event_attributes.result)
            return entry(
                "workflow.completed", f"Workflow completed → {_brief(result)}", result=result
            )
        if which == "workflow_execution_failed_event_attributes":
            message = _mask(event.workflow_execution_failed_event_attributes.failure.message)
            return entry("workflow.failed", f"Workflow failed: {message}", error=message)
        if which == "workflow_execution_terminated_event_attributes":
            reason = _mask(event.workflow_execution_terminated_event_attributes.reason)
            return entry("workflow.terminated", f"Workflow terminated: {reason}", reason=reason)
        if which == "workflow_execution_timed_out_event_attributes":
            return entry("workflow.timed_out", "Workflow run timed out")
        if which == "workflow_execution_canceled_event_attributes":
            return entry("workflow.canceled", "Workflow canceled")
        return None


def convert_history(
    events: Iterable[HistoryEvent], payload_converter: PayloadConverter
) -> list[TemporalEntry]:
    converter = _Converter(payload_converter)
    activities: dict[int, str] = {}
    timers: dict[int, float] = {}
    entries: list[TemporalEntry] = []
    for event in events:
        converted = converter.event(event, activities, timers)
        if converted is not None:
            entries.append(converted)
    return entries
