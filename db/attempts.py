"""Notification attempts: the claim-before-send record that makes every send happen once.

State machine of ``NotificationAttempt.status`` (our lifecycle, domain.vocabulary.AttemptState,
then the provider's reports in our words, DeliveryState):
  claimed ──provider took it──▶ accepted ──reports──▶ queued/sent/delivered/ringing/completed/…
  claimed ──final error──▶ failed | opted_out
  claimed ──retryable error (nothing reached the provider)──▶ retryable ──reclaim──▶ claimed
  claimed, found again by a retry with no provider sid (the create got no answer) ──▶ settled
    from the provider's own records: found ──▶ accepted (its sid adopted); proven absent ──▶
    claimed again and sent under the same key (activities/sends.py)

Provider reports may arrive twice or out of order (callbacks are separate HTTP requests; a
lookup may race them): :func:`record_report` keeps the lifecycle moving forward only.
"""

from __future__ import annotations

from typing import Any

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from db.models import Contact, NotificationAttempt, utcnow
from db.upsert import insert_ignore
from domain.vocabulary import AttemptState, DeliveryState

__all__ = [
    "TERMINAL_FAILURES",
    "append_status",
    "attempt_by_key",
    "attempt_by_sid",
    "claim_attempt",
    "mark_accepted",
    "nth_contact",
    "record_report",
]

TERMINAL_FAILURES = frozenset({"failed", "opted_out", "unknown"})


async def nth_contact(session: AsyncSession, merchant_id: str, index: int) -> Contact | None:
    statement = (
        select(Contact)
        .where(Contact.merchant_id == merchant_id, col(Contact.active).is_(True))
        .order_by(col(Contact.priority), col(Contact.id))
        .offset(index)
        .limit(1)
    )
    return (await session.exec(statement)).first()


async def attempt_by_key(
    session: AsyncSession, key: str, *, for_update: bool = False
) -> NotificationAttempt | None:
    """``for_update``: lock the row (PostgreSQL) before appending to its status history, so a
    status callback and the send activity finishing at the same moment never lose a status."""
    statement = select(NotificationAttempt).where(NotificationAttempt.idempotency_key == key)
    if for_update:
        statement = statement.with_for_update()
    return (await session.exec(statement)).first()


async def attempt_by_sid(session: AsyncSession, sid: str) -> NotificationAttempt | None:
    statement = select(NotificationAttempt).where(NotificationAttempt.provider_sid == sid)
    return (await session.exec(statement)).first()


async def claim_attempt(session: AsyncSession, values: dict[str, Any]) -> NotificationAttempt:
    """Insert a ``claimed`` row for this key, or return the row an earlier try left."""
    now = utcnow()
    row = {
        **values,
        "status": "claimed",
        "status_history": [{"status": "claimed", "at": now.isoformat()}],
        "created_at": now,
        "updated_at": now,
    }
    await insert_ignore(session, NotificationAttempt, row, ["idempotency_key"])
    attempt = await attempt_by_key(session, values["idempotency_key"])
    assert attempt is not None
    return attempt


def append_status(attempt: NotificationAttempt, status: str, **fields: Any) -> bool:
    """Record a status once; False if this exact status was already recorded (a duplicate)."""
    if any(entry.get("status") == status for entry in attempt.status_history):
        return False
    entry = {"status": status, "at": utcnow().isoformat()}
    entry.update({k: v for k, v in fields.items() if v is not None})
    attempt.status_history = [*attempt.status_history, entry]
    attempt.status = status
    attempt.updated_at = utcnow()
    return True


# How far along its life a send is, by what the provider reported: a report of an earlier
# stage than one already recorded is stale (a late or reordered callback) and changes nothing.
_STAGE = {
    DeliveryState.QUEUED: 0,
    DeliveryState.INITIATED: 1,
    DeliveryState.SENT: 1,
    DeliveryState.RINGING: 2,
    DeliveryState.IN_PROGRESS: 3,
}
_FINAL_STAGE = 4
_REPORT_SOURCES = frozenset({"provider", "lookup"})


def _stage(state: str) -> int:
    try:
        return _STAGE.get(DeliveryState(state), _FINAL_STAGE)
    except ValueError:  # one of our own lifecycle words
        return -1


def latest_report_stage(attempt: NotificationAttempt) -> int:
    stages = [
        _stage(str(entry.get("status")))
        for entry in attempt.status_history
        if entry.get("source") in _REPORT_SOURCES
    ]
    return max(stages, default=-1)


def record_report(
    attempt: NotificationAttempt,
    state: DeliveryState,
    *,
    source: str,
    sid: str | None = None,
    error_code: int | None = None,
    raw_answered_by: str | None = None,
    duration_s: int | None = None,
    sequence: int | None = None,
) -> bool:
    """Record what the provider reported (``source``: its callback or our lookup of its
    record). False, and nothing changed, for a repeat or a report older than one recorded."""
    if attempt.provider_sid is None and sid:
        attempt.provider_sid = sid  # a send whose create got no answer: now we know its sid
    if attempt.answered_by is None and raw_answered_by:
        attempt.answered_by = raw_answered_by
    stage = _stage(state)
    if stage < latest_report_stage(attempt) or (
        stage == _FINAL_STAGE and latest_report_stage(attempt) == _FINAL_STAGE
    ):
        return False
    changed = append_status(
        attempt,
        state,
        source=source,
        error_code=error_code,
        answered_by=raw_answered_by,
        duration=str(duration_s) if duration_s is not None else None,
        sequence=sequence,
    )
    if changed:
        attempt.error_code = error_code or attempt.error_code
        if duration_s is not None:
            attempt.duration_seconds = duration_s
    return changed


def mark_accepted(attempt: NotificationAttempt, sid: str, *, how: str = "created") -> None:
    """The provider took the send. A report that raced ahead of this answer keeps the status
    (the lifecycle only moves forward)."""
    attempt.provider_sid = sid
    if any(entry.get("status") == AttemptState.ACCEPTED for entry in attempt.status_history):
        return
    entry = {"status": AttemptState.ACCEPTED, "at": utcnow().isoformat(), "sid": sid}
    if how != "created":
        entry["how"] = how
    attempt.status_history = [*attempt.status_history, entry]
    if latest_report_stage(attempt) < 0:
        attempt.status = AttemptState.ACCEPTED
    attempt.updated_at = utcnow()
