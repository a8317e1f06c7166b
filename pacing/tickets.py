"""The ``send_tickets`` table as the pacer uses it: enqueue, look, grant, forget.

Granting is the one step that must be serialised per channel, so that two workers counting
"grants in the last second" cannot both see room for one more:

- PostgreSQL: a transaction-scoped advisory lock per channel (``pg_advisory_xact_lock``); the
  grant time is the database's ``clock_timestamp()`` read under the lock, so every worker
  measures the window with one clock and grants are recorded in the order they were made.
- SQLite: the transaction starts with a write, which takes the database's single write lock
  before anything is read; the grant time is read after it.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import (
    CursorResult,
    Executable,
    Result,
    Table,
    and_,
    delete,
    func,
    or_,
    select,
    text,
    update,
)
from sqlalchemy.sql.elements import ColumnElement
from sqlmodel.ext.asyncio.session import AsyncSession

from db.engine import SessionFactory
from db.models import SendTicket, utcnow
from db.upsert import insert_ignore
from pacing.priority import TicketWorth

__all__ = ["Look", "TicketStore", "has_room"]

TICKETS: Table = SendTicket.__table__  # type: ignore[attr-defined]
_C = TICKETS.c


@dataclass(frozen=True)
class Look:
    """One waiter's view of its ticket and its channel at ``now``."""

    now: datetime
    exists: bool
    granted: bool
    ahead: int  # waiting tickets of the channel that would be granted before this one
    in_window: int  # grants of the channel within the counted window
    oldest_in_window: datetime | None
    latest_in_window: datetime | None


def _lock_id(channel: str) -> int:
    digest = hashlib.blake2b(f"refundwatch.send_tickets:{channel}".encode(), digest_size=8)
    return int.from_bytes(digest.digest(), "big", signed=True)


def _dialect(session: AsyncSession) -> str:
    return session.bind.dialect.name if session.bind else "postgresql"


async def _run(
    session: AsyncSession, statement: Executable, params: dict[str, Any] | None = None
) -> Result[Any]:
    """Core statements on the session's connection (and transaction)."""
    connection = await session.connection()
    return await connection.execute(statement, params or {})


async def _write(
    session: AsyncSession, statement: Executable, params: dict[str, Any] | None = None
) -> int:
    """An UPDATE or DELETE; how many rows it touched."""
    result = cast(CursorResult[Any], await _run(session, statement, params))
    return int(result.rowcount)


async def _db_now(session: AsyncSession) -> datetime:
    if _dialect(session) == "postgresql":
        value: datetime = (await _run(session, select(func.clock_timestamp()))).scalar_one()
        return value
    return utcnow()


def has_room(
    now: datetime, in_window: int, latest: datetime | None, limit: int, span_seconds: float
) -> bool:
    """Fewer than ``limit`` grants in the window, and the last one at least span/limit ago.

    The spacing spreads a limit of N per window evenly (no burst of N at the window's start),
    which is how carriers and Twilio's queue dequeue, and leaves the most room for jitter.
    """
    if in_window >= limit:
        return False
    return latest is None or (now - latest).total_seconds() >= span_seconds / limit


async def _window(
    session: AsyncSession, channel: str, since: datetime
) -> tuple[int, datetime | None, datetime | None]:
    """Grants of the channel after ``since``: how many, the oldest and the latest."""
    statement = select(func.count(), func.min(_C.granted_at), func.max(_C.granted_at)).where(
        _C.channel == channel, _C.granted_at > since
    )
    row = (await _run(session, statement)).one()
    return cast(tuple[int, datetime | None, datetime | None], tuple(row))


def _waiting(channel: str) -> ColumnElement[bool]:
    return and_(_C.channel == channel, _C.granted_at.is_(None))


def _ahead_of(priority: float, enqueued_at: datetime, key: str) -> ColumnElement[bool]:
    """Tickets the grant order puts first: higher priority, then earlier, then smaller key."""
    return or_(
        _C.priority > priority,
        and_(_C.priority == priority, _C.enqueued_at < enqueued_at),
        and_(_C.priority == priority, _C.enqueued_at == enqueued_at, _C.idempotency_key < key),
    )


class TicketStore:
    def __init__(self, sessions: SessionFactory) -> None:
        self._sessions = sessions

    async def enqueue(
        self, key: str, channel: str, priority: float, worth: TicketWorth | None = None
    ) -> bool:
        """Put a ticket in the queue (or refresh a waiting one's priority). True if granted."""
        async with self._sessions() as session, session.begin():
            values: dict[str, Any] = {
                "idempotency_key": key,
                "channel": channel,
                "priority": priority,
                "enqueued_at": utcnow(),
                "granted_at": None,
                "worth": worth.worth_at(utcnow()) if worth is not None else None,
                "deadline_at": worth.deadline if worth is not None else None,
            }
            if await insert_ignore(session, SendTicket, values, ["idempotency_key"]):
                return False
            row = (
                await _run(session, select(_C.granted_at).where(_C.idempotency_key == key))
            ).first()
            if row is None or row[0] is not None:
                return row is not None
            await _run(
                session,
                update(TICKETS)
                .where(_C.idempotency_key == key, _C.granted_at.is_(None))
                .values(priority=priority),
            )
            return False

    async def look(
        self,
        key: str,
        channel: str,
        span_seconds: float,
        reprioritise: tuple[float, float] | None = None,
    ) -> Look:
        """The waiter's view; ``reprioritise`` = (priority, worth) recomputed by the waiter,
        written first on the same connection (one round of the pool per look)."""
        async with self._sessions() as session:
            if reprioritise is not None:
                priority, worth = reprioritise
                await _run(
                    session,
                    update(TICKETS)
                    .where(_C.idempotency_key == key, _C.granted_at.is_(None))
                    .values(priority=priority, worth=worth),
                )
                await session.commit()
            now = await _db_now(session)
            since = now - timedelta(seconds=span_seconds)
            in_window, oldest, latest = await _window(session, channel, since)
            mine = (
                await _run(
                    session,
                    select(_C.priority, _C.enqueued_at, _C.granted_at).where(
                        _C.idempotency_key == key
                    ),
                )
            ).first()
            ahead = 0
            if mine is not None and mine.granted_at is None:
                ahead_of_me = select(func.count()).where(
                    _waiting(channel), _ahead_of(mine.priority, mine.enqueued_at, key)
                )
                ahead = int((await _run(session, ahead_of_me)).scalar_one())
            return Look(
                now=now,
                exists=mine is not None,
                granted=mine is not None and mine.granted_at is not None,
                ahead=ahead,
                in_window=in_window,
                oldest_in_window=oldest,
                latest_in_window=latest,
            )

    async def grant(self, channel: str, limit: int, span_seconds: float, key: str) -> str | None:
        """Give the next slot, if it is free, to the best waiting ticket; that ticket's key.

        ``key`` is the caller's own ticket: on SQLite the transaction opens by touching it, which
        takes the write lock (it need not exist).
        """
        async with self._sessions() as session, session.begin():
            if _dialect(session) == "postgresql":
                await _run(session, select(func.pg_advisory_xact_lock(_lock_id(channel))))
            else:
                await _run(
                    session,
                    text("UPDATE send_tickets SET channel = channel WHERE idempotency_key = :key"),
                    {"key": key},
                )
            now = await _db_now(session)
            since = now - timedelta(seconds=span_seconds)
            used, _oldest, latest = await _window(session, channel, since)
            if not has_room(now, used, latest, limit, span_seconds):
                return None
            best = (
                select(_C.idempotency_key)
                .where(_waiting(channel))
                .order_by(_C.priority.desc(), _C.enqueued_at, _C.idempotency_key)
                .limit(1)
            )
            winner: str | None = (await _run(session, best)).scalar_one_or_none()
            if winner is not None:
                await _write(
                    session,
                    update(TICKETS)
                    .where(_C.idempotency_key == winner, _C.granted_at.is_(None))
                    .values(granted_at=now),
                )
            return winner

    async def forget(self, key: str) -> None:
        async with self._sessions() as session, session.begin():
            await _run(session, delete(TICKETS).where(_C.idempotency_key == key))

    async def cleanup(self, retention_seconds: float) -> int:
        """Delete tickets granted, or enqueued and still waiting, longer ago than retention."""
        async with self._sessions() as session, session.begin():
            before = await _db_now(session) - timedelta(seconds=retention_seconds)
            return await _write(
                session,
                delete(TICKETS).where(
                    or_(
                        _C.granted_at < before,
                        and_(_C.granted_at.is_(None), _C.enqueued_at < before),
                    )
                ),
            )
