"""One refund's whole story: our audit records merged with its Temporal workflow history.

Each entry says where it comes from: ``audit`` (our database: intake, risk, sends and every
provider status, answers, platform events, outcome) or ``temporal`` (the workflow's own history:
start, signals, updates, timers, activities, completion). If Temporal cannot be reached the
audit records are still shown, with a note saying why the rest is missing.
"""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from typing import Any, Literal

from pydantic import BaseModel
from sqlmodel.ext.asyncio.session import AsyncSession
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode

from support.audit_text import describe_audit
from support.temporal_events import convert_history
from support.views import RefundView, load_refund_view, load_timeline

__all__ = ["HistoryEntry", "RefundHistory", "load_history"]

Source = Literal["audit", "temporal"]
_TEMPORAL_TIMEOUT = timedelta(seconds=10)
_AUDIT_ACTIVITY = "record_audit"


class HistoryEntry(BaseModel):
    at: datetime
    source: Source
    kind: str
    actor: str
    summary: str
    detail: dict[str, Any]
    # Temporal's side of an audit write (the record_audit activity): the audit record itself is
    # already in the timeline, so views may fold these away.
    bookkeeping: bool = False


class RefundHistory(BaseModel):
    refund: RefundView
    entries: list[HistoryEntry]
    # None when the workflow history is included; otherwise why it is not.
    temporal_note: str | None = None

    def count(self, source: Source) -> int:
        return sum(1 for entry in self.entries if entry.source == source)

    def count_bookkeeping(self) -> int:
        return sum(1 for entry in self.entries if entry.bookkeeping)


async def _temporal_entries(
    client: Client | None, workflow_id: str | None
) -> tuple[list[HistoryEntry], str | None]:
    if workflow_id is None:
        return [], "not watched: the refund was below the risk threshold, no workflow exists"
    if client is None:
        return [], "Temporal not consulted (no client)"
    handle = client.get_workflow_handle(workflow_id)
    try:
        history = await asyncio.wait_for(
            handle.fetch_history(rpc_timeout=_TEMPORAL_TIMEOUT),
            _TEMPORAL_TIMEOUT.total_seconds() + 2,
        )
    except RPCError as err:
        if err.status == RPCStatusCode.NOT_FOUND:
            return [], f"workflow {workflow_id} not found in Temporal (retention may have expired)"
        return [], f"Temporal history unavailable: {err.message}"
    except TimeoutError:
        return [], "Temporal history unavailable: no answer within 10 s; check TEMPORAL_ADDRESS"
    converted = convert_history(history.events, client.data_converter.payload_converter)
    return [
        HistoryEntry(
            at=item.at,
            source="temporal",
            kind=item.kind,
            actor="temporal",
            summary=item.summary,
            detail={"event_id": item.event_id, **item.detail},
            bookkeeping=item.detail.get("activity") == _AUDIT_ACTIVITY,
        )
        for item in converted
    ], None


async def load_history(
    session: AsyncSession, client: Client | None, refund_id: str, language: str = "en"
) -> RefundHistory | None:
    """None if the refund is unknown. Entries in time order; audit first on equal times.
    ``language``: of the audit entries' sentences (Temporal's events stay as Temporal says)."""
    refund = await load_refund_view(session, refund_id)
    timeline = await load_timeline(session, refund_id)
    if refund is None or timeline is None:
        return None
    entries = [
        HistoryEntry(
            at=item.at,
            source="audit",
            kind=item.kind,
            actor=item.actor,
            summary=describe_audit(item.kind, item.actor, item.detail, language),
            detail=item.detail,
        )
        for item in timeline
    ]
    temporal, note = await _temporal_entries(client, refund.workflow_id)
    entries += temporal
    order = {"audit": 0, "temporal": 1}
    entries.sort(key=lambda entry: (entry.at, order[entry.source]))
    return RefundHistory(refund=refund, entries=entries, temporal_note=note)
