"""Reading Twilio's own records of our sends: what each SMS and call cost, and how it ended.

Twilio fills in a resource's price some time after it finished, and no callback carries it.
And since Twilio does not retry a failed status callback by default, a send's final status
may never have reached us (the watch looks it up when it matters to the escalation; this job
completes the record for the others, e.g. a call the merchant answered). So attempts that
have a sid but no price yet, or no final status for a while, are looked up; what the record
says is recorded as any report is (db/attempts.record_report, source "lookup"). First, sends
left not knowing whether they went out (claimed or unknown, no sid) are settled from the same
records (scheduler/unanswered.py), so one Twilio did send is then read like the others.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta

import structlog
from sqlalchemy import or_
from sqlmodel import col, select

from activities.lookups import record_lookup
from db.attempts import attempt_by_key
from db.engine import SessionFactory
from db.models import NotificationAttempt, utcnow
from domain.vocabulary import Channel, DeliveryState
from notifier.base import Notifier, ProviderError, SendLookup
from scheduler.unanswered import Unanswered, settle_unanswered_sends

__all__ = ["FINISHED", "PriceBackfill", "backfill_prices"]

log = structlog.get_logger(__name__)

FINISHED = DeliveryState.final_for(Channel.SMS) | DeliveryState.final_for(Channel.CALL)
# Not worth asking again after this: the provider will not price it any more.
GIVE_UP_AFTER = timedelta(days=2)


@dataclass(frozen=True)
class PriceBackfill:
    priced: int
    not_yet: int
    errors: int
    settled: int = 0  # final statuses recorded from the provider's records
    unanswered: Unanswered = field(default_factory=Unanswered)  # no sid: settled from records


async def backfill_prices(
    sessions: SessionFactory,
    notifier: Notifier,
    *,
    settled_for: timedelta = timedelta(seconds=30),
    limit: int = 200,
) -> PriceBackfill:
    unanswered = await settle_unanswered_sends(
        sessions, notifier, settled_for=settled_for, give_up_after=GIVE_UP_AFTER, limit=limit
    )
    now = utcnow()
    async with sessions() as session:
        statement = (
            select(NotificationAttempt)
            .where(
                col(NotificationAttempt.channel).in_((Channel.SMS, Channel.CALL)),
                col(NotificationAttempt.provider_sid).is_not(None),
                or_(
                    col(NotificationAttempt.price).is_(None),
                    col(NotificationAttempt.status).not_in(FINISHED),
                ),
                col(NotificationAttempt.updated_at) <= now - settled_for,
                col(NotificationAttempt.updated_at) >= now - GIVE_UP_AFTER,
            )
            .order_by(col(NotificationAttempt.updated_at))
            .limit(limit)
        )
        attempts = list((await session.exec(statement)).all())
    priced = not_yet = errors = settled = 0
    for attempt in attempts:
        assert attempt.provider_sid is not None
        try:
            found = await notifier.lookup(
                channel=Channel(attempt.channel), sid=attempt.provider_sid
            )
        except ProviderError as err:
            errors += 1
            log.warning("provider_record_failed", sid=attempt.provider_sid, error=err.message)
            continue
        recorded = await _record(sessions, attempt.idempotency_key, found)
        priced += recorded.priced
        settled += recorded.settled
        not_yet += int(found.price.cost is None)
    if attempts:
        log.info(
            "provider_records_read", priced=priced, not_yet=not_yet, settled=settled, errors=errors
        )
    return PriceBackfill(priced, not_yet, errors, settled, unanswered)


@dataclass(frozen=True)
class _Recorded:
    priced: int
    settled: int


async def _record(sessions: SessionFactory, key: str, found: SendLookup) -> _Recorded:
    async with sessions() as session:
        row = await attempt_by_key(session, key, for_update=True)
        if row is None:
            return _Recorded(0, 0)
        priced = settled = 0
        if found.state in FINISHED and row.status not in FINISHED:
            settled = int(record_lookup(row, found))
        if row.price is None and found.price.cost is not None:
            row.price, row.price_unit = found.price.cost, found.price.unit
            priced = 1
        session.add(row)
        await session.commit()
        return _Recorded(priced, settled)
