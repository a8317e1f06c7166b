"""Looking a send up in the provider's own records, when a callback has not said enough.

Twilio does not retry a failed status callback by default, and nothing guarantees one arrives
(DESIGN.md, Twilio): when it matters (a call's result, an SMS's delivery before the next step)
the watch asks for the resource itself (Calls/{Sid}.json, Messages/{Sid}.json) and what it
says is recorded as any report is (db/attempts.record_report, source "lookup").
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.common import logger_for
from activities.types import LookedUp, LookupInput
from db.attempts import attempt_by_key, record_report
from db.engine import SessionFactory
from db.models import NotificationAttempt
from domain.vocabulary import Channel
from notifier.base import Notifier, SendLookup
from notifier.errors import ProviderError
from notifier.twilio_words import answerer

__all__ = ["LookupActivities", "record_lookup"]


def record_lookup(attempt: NotificationAttempt, found: SendLookup) -> bool:
    """Record what the provider's record says of the send, as any report (source "lookup")."""
    if found.state is None:
        return False
    return record_report(
        attempt,
        found.state,
        source="lookup",
        error_code=found.error_code,
        raw_answered_by=found.raw_answered_by,
        duration_s=found.duration_s,
    )


class LookupActivities:
    def __init__(self, sessions: SessionFactory, notifier: Notifier) -> None:
        self._sessions = sessions
        self._notifier = notifier

    def all(self) -> list[Callable[..., Any]]:
        return [self.look_up_send]

    @activity.defn(name="look_up_send")
    async def look_up_send(self, request: LookupInput) -> LookedUp:
        async with self._sessions() as session:
            attempt = await attempt_by_key(session, request.idempotency_key)
            if attempt is None or attempt.provider_sid is None:
                return LookedUp(None)
            channel, sid = Channel(attempt.channel), attempt.provider_sid
        try:
            found = await self._notifier.lookup(channel=channel, sid=sid)
        except ProviderError as err:
            raise ApplicationError(f"cannot look the send up: {err.message}") from err
        async with self._sessions() as session:
            attempt = await attempt_by_key(session, request.idempotency_key, for_update=True)
            assert attempt is not None
            record_lookup(attempt, found)
            session.add(attempt)
            await session.commit()
            answered = found.answered_by or answerer(attempt.answered_by)
            merchant_id = attempt.merchant_id
        logger_for(request.refund_id, merchant_id, "").info(
            "send_looked_up", idempotency_key=request.idempotency_key, state=found.state
        )
        return LookedUp(found.state, found.error_code, answered)
