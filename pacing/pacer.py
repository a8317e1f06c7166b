"""A rate limiter shared by every worker through the database, that grants by priority.

Each send that wants to go out puts a ticket in ``send_tickets`` and waits. Whenever the
channel has room for one more grant, whoever looks first gives it to the best waiting ticket
(highest priority, then oldest) — not necessarily to itself — and every waiter sees its own
grant at its next look. The front waiter sleeps until the moment the next slot frees; those
further back look rarely, so hundreds of waiters cost a few queries a second.

A ticket given with its :class:`~pacing.priority.TicketWorth` has its priority recomputed by
its waiter at every look (time left, the callee's hour) and written back when it moved by more
than ``reprioritise_share`` of itself: the grant order follows the value of sending *now*.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from datetime import datetime

import structlog
from sqlalchemy.exc import SQLAlchemyError

from db.engine import SessionFactory
from db.models import utcnow
from pacing.config import PacingConfig
from pacing.priority import TicketWorth
from pacing.tickets import Look, TicketStore, has_room

__all__ = ["Pacer"]

log = structlog.get_logger(__name__)

_MIN_PAUSE = 0.001  # also wakes a waiter just after its slot frees, not just before


class Pacer:
    def __init__(
        self,
        sessions: SessionFactory,
        config: PacingConfig | None = None,
        *,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self._config = config or PacingConfig()
        self._store = TicketStore(sessions)
        self._next_cleanup = 0.0
        self._clock = clock  # what worth is recomputed at (the benchmarks pass a simulated one)

    @property
    def config(self) -> PacingConfig:
        return self._config

    async def acquire(
        self,
        *,
        key: str,
        channel: str,
        priority: float = 0.0,
        heartbeat: Callable[[], None] | None = None,
        worth: TicketWorth | None = None,
    ) -> None:
        """Return when the send ``key`` may go out on ``channel``.

        A key granted before (a retried activity) returns at once. ``heartbeat`` is called at
        every look at the ticket, at least every ``max_poll_seconds``. If the wait is cancelled
        the ticket is withdrawn; a retry queues again. With ``worth``, the priority is
        ``worth.priority_at(now)``, recomputed while the ticket waits (``priority`` unused).
        """
        limit = self._config.limit(channel)
        await self._cleanup_now_and_then()
        started = time.monotonic()
        if worth is not None:
            priority = worth.priority_at(self._clock())
        if await self._store.enqueue(key, channel, priority, worth):
            return
        try:
            await self._wait(key, channel, priority, limit, heartbeat, worth)
        except asyncio.CancelledError:
            await self._withdraw(key)
            raise
        waited = time.monotonic() - started
        log.info(
            "send_slot_granted", channel=channel, idempotency_key=key, waited_s=round(waited, 3)
        )

    async def enqueue(
        self,
        *,
        key: str,
        channel: str,
        priority: float = 0.0,
        worth: TicketWorth | None = None,
    ) -> bool:
        """Queue a ticket without waiting (``acquire`` later waits for it). True if granted."""
        self._config.limit(channel)
        if worth is not None:
            priority = worth.priority_at(self._clock())
        return await self._store.enqueue(key, channel, priority, worth)

    async def release_unused(self, key: str) -> None:
        """Give back a slot that sent nothing: the send was skipped, or the provider refused it
        before taking it (429 / 20429, connection refused). A retry of ``key`` queues again."""
        await self._store.forget(key)

    async def cleanup(self) -> int:
        """Delete old tickets (see ``PacingConfig.retention_seconds``); how many."""
        return await self._store.cleanup(self._config.retention_seconds)

    async def _wait(
        self,
        key: str,
        channel: str,
        priority: float,
        limit: int,
        heartbeat: Callable[[], None] | None,
        worth: TicketWorth | None = None,
    ) -> None:
        span = self._config.span_seconds
        try_grant = False
        while True:
            if heartbeat is not None:
                heartbeat()
            refresh: tuple[float, float] | None = None
            if worth is not None:
                moment = self._clock()
                now = worth.priority_at(moment)
                share = self._config.reprioritise_share
                if abs(now - priority) > share * max(abs(priority), 1e-12):
                    priority = now
                    refresh = (priority, worth.worth_at(moment))
            if try_grant and await self._store.grant(channel, limit, span, key) == key:
                return
            look = await self._store.look(key, channel, span, refresh)
            if look.granted:
                return
            if not look.exists:  # withdrawn by a cancelled twin, or expired: queue again
                if await self._store.enqueue(key, channel, priority, worth):
                    return
                continue
            if has_room(look.now, look.in_window, look.latest_in_window, limit, span):
                try_grant = True  # the slot goes to this ticket or to a better one
                continue
            # The front waiter goes straight for the slot when it wakes; the others look first.
            try_grant = look.ahead == 0
            await asyncio.sleep(self._pause(look, limit))

    def _pause(self, look: Look, limit: int) -> float:
        """Until the next slot frees if this ticket is at the front; longer further back."""
        span = self._config.span_seconds
        interval = span / limit
        frees_at = look.now.timestamp()
        if look.latest_in_window is not None:
            frees_at = look.latest_in_window.timestamp() + interval
        if look.in_window >= limit and look.oldest_in_window is not None:
            frees_at = max(frees_at, look.oldest_in_window.timestamp() + span)
        pause = frees_at - look.now.timestamp()
        if look.ahead:
            # The front waiter takes the slot as it frees; the next ones look a little later
            # (and grant it to the front if that waiter is gone). Further back, a ticket cannot
            # reach the front before `ahead` slots have passed: look again halfway there.
            pause = max(pause + 0.2 * interval, 0.5 * look.ahead * interval)
        return min(max(pause, 0.0) + _MIN_PAUSE, self._config.max_poll_seconds)

    async def _withdraw(self, key: str) -> None:
        try:
            await self._store.forget(key)
        except (SQLAlchemyError, OSError) as exc:  # best effort: the ticket expires anyway
            log.warning("send_ticket_not_withdrawn", idempotency_key=key, error=str(exc))

    async def _cleanup_now_and_then(self) -> None:
        now = time.monotonic()
        if now < self._next_cleanup:
            return
        self._next_cleanup = now + self._config.cleanup_every_seconds
        try:
            removed = await self.cleanup()
        except SQLAlchemyError as exc:  # never fail a send over housekeeping
            log.warning("send_tickets_cleanup_failed", error=str(exc))
            return
        if removed:
            log.info("send_tickets_cleaned", removed=removed)
