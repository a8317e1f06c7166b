"""The reconciler: start watches that are missing, deliver answers that could not reach their
watch, flag refunds stuck past their deadline.

A tracked refund's watch can be missing because intake stored the row but Temporal was down and
the platform never retried (``workflow_started_at`` is NULL), or because Temporal lost it (the row
says started, ``describe`` says not found). Either way the watch is started through
:func:`application.watches.ensure_watch_started`, the same path intake uses, so the workflow id,
input and
``workflow.started`` audit entry are the same. A refund whose deadline already passed is started
too: its ladder is empty, it times out at once and its loss is written to the ledger.

Every step is idempotent and safe to run from several instances at once: the refund row is
locked (``FOR UPDATE SKIP LOCKED`` on PostgreSQL) while its watch is started, Temporal rejects a
second workflow with the same id, and audit entries carry dedup keys.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import structlog
from sqlalchemy import ColumnElement, and_
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode

from application.answers import deliver_pending_answers
from application.notice_events import deliver_unstarted_inbox_events
from application.services import Services
from application.watches import ensure_watch_started
from db.audit import append_audit
from db.models import AuditEvent, Refund, utcnow
from observability.metrics import OVERDUE_FLAGGED, WATCH_START_FAILURES, WATCHES_STARTED
from workflows.ids import workflow_id_for
from workflows.starter import watch_handle

__all__ = [
    "ReconcileResult",
    "flag_overdue_refunds",
    "reconcile",
    "start_missing_watches",
]

log = structlog.get_logger(__name__)

CHUNK = 200
# A watch started this recently may still be on its way; describe() would race the start.
SETTLE = timedelta(seconds=30)
_DESCRIBE_CONCURRENCY = 8

StillHolding = Callable[[], Awaitable[bool]]


@dataclass
class ReconcileResult:
    started: list[str] = field(default_factory=list)  # refund ids, watch was never started
    restarted: list[str] = field(default_factory=list)  # refund ids, Temporal had lost it
    failed: list[str] = field(default_factory=list)  # refund ids, start failed; next pass retries
    overdue: list[str] = field(default_factory=list)  # refund ids flagged overdue in this pass
    answers_delivered: int = 0  # kept answers that reached their watch in this pass
    inbox_events_started: int = 0  # read/ack events whose delivery Temporal never got
    checked: int = 0  # open tracked refunds looked at
    interrupted: bool = False  # stopped early: the lease was lost

    def summary(self) -> dict[str, int | bool]:
        return {
            "checked": self.checked,
            "started": len(self.started),
            "restarted": len(self.restarted),
            "failed": len(self.failed),
            "overdue": len(self.overdue),
            "answers_delivered": self.answers_delivered,
            "inbox_events_started": self.inbox_events_started,
            "interrupted": self.interrupted,
        }


def _tracked_open() -> ColumnElement[bool]:
    return and_(col(Refund.tracked).is_(True), col(Refund.state) == "open")


async def _exists_in_temporal(client: Client, refund_id: str) -> bool:
    """True unless Temporal says there is no such workflow; any other error counts as 'exists'
    (never start a second watch on a guess)."""
    try:
        await watch_handle(client, refund_id).describe()
    except RPCError as err:
        if err.status == RPCStatusCode.NOT_FOUND:
            return False
        log.warning("reconcile_describe_failed", refund_id=refund_id, error=err.status.name)
    return True


async def _lost_by_temporal(
    client: Client, rows: list[tuple[str, datetime]]
) -> list[tuple[str, datetime]]:
    semaphore = asyncio.Semaphore(_DESCRIBE_CONCURRENCY)

    async def check(refund_id: str) -> bool:
        async with semaphore:
            return await _exists_in_temporal(client, refund_id)

    found = await asyncio.gather(*(check(refund_id) for refund_id, _ in rows))
    return [row for row, exists in zip(rows, found, strict=True) if not exists]


async def _start_one(services: Services, refund_id: str, seen_started_at: datetime | None) -> bool:
    """Start the watch unless another pass or intake got there first. True if this call did."""
    reason = "never_started" if seen_started_at is None else "missing_in_temporal"
    workflow_id = workflow_id_for(refund_id)
    async with services.sessions() as session:
        statement = (
            select(Refund)
            .where(Refund.refund_id == refund_id, _tracked_open())
            .with_for_update(skip_locked=True)  # PostgreSQL; SQLite serialises writes anyway
        )
        refund = (await session.exec(statement)).first()
        if refund is None or refund.workflow_started_at != seen_started_at:
            return False  # closed, locked by another pass, or started since we looked
        # The row says started but Temporal has no such workflow: clear the mark so the
        # intake path starts it again.
        refund.workflow_started_at = None
        await ensure_watch_started(services, session, refund)
        await append_audit(
            session,
            kind="workflow.reconciled",
            actor="scheduler",
            refund_id=refund.refund_id,
            merchant_id=refund.merchant_id,
            detail={"workflow_id": workflow_id, "reason": reason},
            dedup_key=(
                f"{workflow_id}:reconciled:"
                f"{seen_started_at.isoformat() if seen_started_at else 'never'}"
            ),
        )
        await session.commit()
        merchant_id = refund.merchant_id
    WATCHES_STARTED.labels(reason).inc()
    log.warning(
        "watch_reconciled",
        refund_id=refund_id,
        merchant_id=merchant_id,
        workflow_id=workflow_id,
        reason=reason,
    )
    return True


async def start_missing_watches(
    services: Services,
    *,
    result: ReconcileResult | None = None,
    still_holding: StillHolding | None = None,
    now: datetime | None = None,
) -> ReconcileResult:
    """Walk open tracked refunds in chunks and start every watch that is missing."""
    result = result or ReconcileResult()
    settled_before = (now or utcnow()) - SETTLE
    after = ""
    while True:
        async with services.sessions() as session:
            page = (
                await session.exec(
                    select(Refund.refund_id, Refund.workflow_started_at)
                    .where(_tracked_open(), col(Refund.refund_id) > after)
                    .order_by(col(Refund.refund_id))
                    .limit(CHUNK)
                )
            ).all()
        if not page:
            return result
        after = page[-1][0]
        result.checked += len(page)
        never = [(refund_id, None) for refund_id, started in page if started is None]
        started_long_ago = [
            (refund_id, started)
            for refund_id, started in page
            if started is not None and started < settled_before
        ]
        lost = await _lost_by_temporal(services.temporal, started_long_ago)
        candidates: list[tuple[str, datetime | None]] = [*never, *lost]
        for refund_id, seen in candidates:
            try:
                if await _start_one(services, refund_id, seen):
                    (result.started if seen is None else result.restarted).append(refund_id)
            except Exception as exc:  # one refund's failure must not stop the pass
                WATCH_START_FAILURES.inc()
                result.failed.append(refund_id)
                log.error(
                    "reconcile_start_failed",
                    refund_id=refund_id,
                    workflow_id=workflow_id_for(refund_id),
                    error=type(exc).__name__,
                    message=str(exc)[:200],
                )
        if still_holding is not None and not await still_holding():
            result.interrupted = True
            log.warning("reconcile_interrupted", reason="lease lost", checked=result.checked)
            return result


async def flag_overdue_refunds(
    session: AsyncSession, *, grace: timedelta, now: datetime | None = None
) -> list[str]:
    """Write ``refund.overdue`` once per refund and deadline for tracked refunds still open more
    than ``grace`` after their deadline. Returns the refund ids flagged by this call."""
    now = now or utcnow()
    flagged: list[tuple[Refund, timedelta]] = []
    after = ""
    while True:
        page = list(
            (
                await session.exec(
                    select(Refund)
                    .where(
                        _tracked_open(),
                        col(Refund.deadline_at) < now - grace,
                        col(Refund.refund_id) > after,
                    )
                    .order_by(col(Refund.refund_id))
                    .limit(CHUNK)
                )
            ).all()
        )
        if not page:
            break
        after = page[-1].refund_id
        keys = {_overdue_key(refund): refund for refund in page}
        known = set(
            (
                await session.exec(
                    select(AuditEvent.dedup_key).where(col(AuditEvent.dedup_key).in_(keys))
                )
            ).all()
        )
        for key, refund in keys.items():
            if key in known:
                continue
            overdue_by = now - refund.deadline_at
            inserted = await append_audit(
                session,
                kind="refund.overdue",
                actor="scheduler",
                refund_id=refund.refund_id,
                merchant_id=refund.merchant_id,
                detail={
                    "deadline_at": refund.deadline_at.isoformat(),
                    "overdue_by_s": int(overdue_by.total_seconds()),
                    "stage": refund.stage,
                    "workflow_id": refund.workflow_id,
                },
                dedup_key=key,
            )
            if inserted:
                flagged.append((refund, overdue_by))
        await session.commit()
    for refund, overdue_by in flagged:
        OVERDUE_FLAGGED.inc()
        log.warning(
            "refund_overdue",
            refund_id=refund.refund_id,
            merchant_id=refund.merchant_id,
            workflow_id=refund.workflow_id,
            deadline_at=refund.deadline_at.isoformat(),
            overdue_by_s=int(overdue_by.total_seconds()),
            stage=refund.stage,
        )
    return [refund.refund_id for refund, _ in flagged]


def _overdue_key(refund: Refund) -> str:
    # Per deadline: a refund whose deadline the platform moved can be flagged again later.
    return f"{refund.refund_id}:overdue:{refund.deadline_at.isoformat()}"


async def reconcile(
    services: Services,
    *,
    overdue_grace: timedelta,
    still_holding: StillHolding | None = None,
    now: datetime | None = None,
) -> ReconcileResult:
    """One pass: start missing watches, deliver answers kept while their watch was away,
    start the delivery of inbox events stored while Temporal was away, then flag overdue
    refunds."""
    result = await start_missing_watches(services, still_holding=still_holding, now=now)
    if not result.interrupted:
        result.answers_delivered = await deliver_pending_answers(services)
        result.inbox_events_started = await deliver_unstarted_inbox_events(services, now=now)
        async with services.sessions() as session:
            result.overdue = await flag_overdue_refunds(session, grace=overdue_grace, now=now)
    log.info("reconcile_pass", **result.summary())
    return result
