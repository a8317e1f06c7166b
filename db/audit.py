"""Appending to the audit log. Rows are never updated or deleted."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from db.models import AuditEvent, utcnow
from db.upsert import insert_ignore

__all__ = ["SUPPORT_VIEW_COLLAPSE", "append_audit", "audit_values", "record_support_view"]


def audit_values(
    *,
    kind: str,
    actor: str,
    refund_id: str | None = None,
    merchant_id: str | None = None,
    detail: dict[str, Any] | None = None,
    dedup_key: str | None = None,
) -> dict[str, Any]:
    """An audit row's column values, stamped now (for a session or a Core INSERT)."""
    return {
        "kind": kind,
        "actor": actor,
        "refund_id": refund_id,
        "merchant_id": merchant_id,
        "detail": detail or {},
        "dedup_key": dedup_key,
        "at": utcnow(),
    }


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
    values = audit_values(
        kind=kind,
        actor=actor,
        refund_id=refund_id,
        merchant_id=merchant_id,
        detail=detail,
        dedup_key=dedup_key,
    )
    if dedup_key is None:
        session.add(AuditEvent(**values))
        return True
    return await insert_ignore(session, AuditEvent, values, ["dedup_key"])


# A page that refreshes itself (or a client polling the JSON) opens the same record again and
# again: repeats of the same view by the same viewer within this window are one opening.
SUPPORT_VIEW_COLLAPSE = timedelta(minutes=10)


async def _seen_recently(
    session: AsyncSession,
    actor: str,
    refund_id: str | None,
    merchant_id: str | None,
    detail: dict[str, Any],
) -> bool:
    statement = (
        select(AuditEvent)
        .where(
            AuditEvent.kind == "support.viewed",
            AuditEvent.actor == actor,
            col(AuditEvent.at) >= utcnow() - SUPPORT_VIEW_COLLAPSE,
            col(AuditEvent.refund_id).is_(None)
            if refund_id is None
            else AuditEvent.refund_id == refund_id,
            col(AuditEvent.merchant_id).is_(None)
            if merchant_id is None
            else AuditEvent.merchant_id == merchant_id,
        )
        .order_by(col(AuditEvent.id).desc())
        .limit(50)
    )
    return any(row.detail == detail for row in (await session.exec(statement)).all())


async def record_support_view(
    session: AsyncSession,
    *,
    actor: str,
    view: str,
    refund_id: str | None = None,
    merchant_id: str | None = None,
    viewer: str | None = None,
    collapse: bool = True,
    **detail: Any,
) -> bool:
    """Support read a record that holds personal data: audit who and what, then commit.

    ``viewer`` tells people apart under one role (a fingerprint of the API token or of the
    page's sign-in session, never the token). The same view of the same record by the same
    viewer within SUPPORT_VIEW_COLLAPSE adds no row (``collapse=False`` for acts that each
    count, such as a file download). True when a row was added."""
    values = {"view": view, **detail}
    if viewer is not None:
        values["viewer"] = viewer
    if collapse and await _seen_recently(session, actor, refund_id, merchant_id, values):
        return False
    await append_audit(
        session,
        kind="support.viewed",
        actor=actor,
        refund_id=refund_id,
        merchant_id=merchant_id,
        detail=values,
    )
    await session.commit()
    return True
