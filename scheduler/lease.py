"""Named leases in ``scheduler_leases``: one scheduler instance at a time runs a job.

Taking a lease is one statement, ``INSERT … ON CONFLICT (name) DO UPDATE … WHERE expired OR
mine``, so two instances racing for it cannot both win, on PostgreSQL (the conflicting row is
locked and re-checked) and on SQLite (writes are serialised). A holder that crashes stops
renewing; its lease expires and the next instance takes over. Expiry times come from the
holders' clocks: keep them in sync (NTP) and the TTL well above any skew.
"""

from __future__ import annotations

import os
import socket
import uuid
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, or_
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel.ext.asyncio.session import AsyncSession

from db.models import SchedulerLease, utcnow

__all__ = ["acquire_lease", "lease_holder", "new_holder_id", "release_lease"]


def new_holder_id() -> str:
    """Unique per process: host, pid and a random suffix (a restarted pid is a new holder)."""
    return f"{socket.gethostname()[:60]}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


async def acquire_lease(
    session: AsyncSession,
    name: str,
    holder: str,
    ttl: timedelta,
    *,
    now: datetime | None = None,
) -> bool:
    """Take or renew lease ``name`` for ``ttl``. False if another holder's lease is still valid.

    Commits: a lease must be visible to the other instances at once.
    """
    now = now or utcnow()
    table = SchedulerLease.__table__  # type: ignore[attr-defined]
    dialect = session.bind.dialect.name if session.bind else "postgresql"
    module: Any = sqlite if dialect == "sqlite" else postgresql
    insert = module.insert(table).values(name=name, holder=holder, expires_at=now + ttl)
    statement = insert.on_conflict_do_update(
        index_elements=[table.c.name],
        set_={"holder": insert.excluded.holder, "expires_at": insert.excluded.expires_at},
        where=or_(table.c.expires_at <= now, table.c.holder == insert.excluded.holder),
    )
    result = await session.exec(statement)
    await session.commit()
    return bool(result.rowcount)


async def release_lease(session: AsyncSession, name: str, holder: str) -> bool:
    """Give the lease up (only if still ours) so another instance need not wait for expiry."""
    table = SchedulerLease.__table__  # type: ignore[attr-defined]
    result = await session.exec(delete(table).where(table.c.name == name, table.c.holder == holder))
    await session.commit()
    return bool(result.rowcount)


async def lease_holder(
    session: AsyncSession, name: str, *, now: datetime | None = None
) -> SchedulerLease | None:
    """The current, unexpired lease ``name``, if any (for messages and tests)."""
    lease = await session.get(SchedulerLease, name, populate_existing=True)
    if lease is None or lease.expires_at <= (now or utcnow()):
        return None
    return lease
