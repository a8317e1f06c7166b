"""Notification attempts: the claim-before-send record that makes every send happen once.

State machine of ``NotificationAttempt.status``:
  claimed ──provider took it──▶ accepted ──callbacks──▶ queued/sent/delivered/ringing/completed/…
  claimed ──final error──▶ failed | opted_out
  claimed ──retryable error (nothing reached the provider)──▶ retryable ──reclaim──▶ claimed
  claimed, found again by a retry with no provider sid ──▶ unknown (never resent blindly)
"""

from __future__ import annotations

from typing import Any

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from db.models import Contact, NotificationAttempt, utcnow
from db.upsert import insert_ignore

__all__ = [
    "TERMINAL_FAILURES",
    "append_status",
    "attempt_by_key",
    "attempt_by_sid",
    "claim_attempt",
    "nth_contact",
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
