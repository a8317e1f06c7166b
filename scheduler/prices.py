"""Recording what each SMS and call cost. Twilio fills in a resource's price some time after
it finished, and no callback carries it, so finished attempts without a price are fetched."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

import structlog
from sqlmodel import col, select

from db.engine import SessionFactory
from db.models import NotificationAttempt, utcnow
from domain.vocabulary import Channel, DeliveryState
from notifier.base import Notifier, ProviderError

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


async def backfill_prices(
    sessions: SessionFactory,
    notifier: Notifier,
    *,
    settled_for: timedelta = timedelta(seconds=30),
    limit: int = 200,
) -> PriceBackfill:
    now = utcnow()
    async with sessions() as session:
        statement = (
            select(NotificationAttempt)
            .where(
                col(NotificationAttempt.channel).in_(("sms", "call")),
                col(NotificationAttempt.provider_sid).is_not(None),
                col(NotificationAttempt.price).is_(None),
                col(NotificationAttempt.status).in_(FINISHED),
                col(NotificationAttempt.updated_at) <= now - settled_for,
                col(NotificationAttempt.updated_at) >= now - GIVE_UP_AFTER,
            )
            .order_by(col(NotificationAttempt.updated_at))
            .limit(limit)
        )
        attempts = list((await session.exec(statement)).all())
    priced = not_yet = errors = 0
    for attempt in attempts:
        assert attempt.provider_sid is not None
        try:
            found = await notifier.lookup(
                channel=Channel(attempt.channel), sid=attempt.provider_sid
            )
        except ProviderError as err:
            errors += 1
            log.warning("price_fetch_failed", sid=attempt.provider_sid, error=err.message)
            continue
        price = found.price
        if price.cost is None:
            not_yet += 1
            continue
        async with sessions() as session:
            row = await session.get(NotificationAttempt, attempt.id)
            if row is not None and row.price is None:
                row.price, row.price_unit = price.cost, price.unit
                session.add(row)
                await session.commit()
                priced += 1
    if attempts:
        log.info("prices_backfilled", priced=priced, not_yet=not_yet, errors=errors)
    return PriceBackfill(priced, not_yet, errors)
