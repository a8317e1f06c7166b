"""Appending to the audit log. Rows are never updated or deleted."""

from __future__ import annotations

from typing import Any

from sqlmodel.ext.asyncio.session import AsyncSession

from db.models import AuditEvent, utcnow
from db.upsert import insert_ignore

__all__ = ["append_audit", "record_support_view"]


async def append_audit(
    session: AsyncSession,
    *,
    kind: str,
    actor: str,
    refund_id: str | None = None,
    merchant_id: str | None = None,
    detail: dict[str, Any] | None = None,
    dedup_key: str | None = None,
) -> bool:
    """Add an event; with a ``dedup_key`` a second call with the same key adds nothing."""
    values: dict[str, Any] = {
        "kind": kind,
        "actor": actor,
        "refund_id": refund_id,
        "merchant_id": merchant_id,
        "detail": detail or {},
        "dedup_key": dedup_key,
        "at": utcnow(),
    }
    if dedup_key is None:
        session.add(AuditEvent(**values))
        return True
    return await insert_ignore(session, AuditEvent, values, ["dedup_key"])


async def record_support_view(
    session: AsyncSession,
    *,
    actor: str,
    view: str,
    refund_id: str | None = None,
    merchant_id: str | None = None,
    **detail: Any,
) -> None:
    """Support read a record that holds personal data: audit who and what, then commit."""
    await append_audit(
        session,
        kind="support.viewed",
        actor=actor,
        refund_id=refund_id,
        merchant_id=merchant_id,
        detail={"view": view, **detail},
    )
    await session.commit()
