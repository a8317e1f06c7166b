"""Sends left not knowing whether they went out, settled from Twilio's own records.

A send whose create request got no answer (a lost response, a worker killed between Twilio's
answer and our record of it) stays ``claimed`` with no sid, or becomes ``unknown`` once a retry
declined to send it blindly. The watch's next try of that key settles it
(activities/send_settle.py); a watch with no next try (the deadline passed, the refund closed,
the ladder moved on) leaves it so, and the audit would lack a message Twilio did send. This
pass of the provider-records job asks Twilio the same way (the Messages / Calls list filtered
by To and From — twilio-python's MessageList / CallList ``list_async`` have no filter by
creation time, so notifier/twilio_notifier.find_sends reads the newest page and keeps the sends
created since the claim): a send found is adopted, and its status and price are then read
like any other's; one still absent from Twilio's records on a refund that is no longer open is
recorded ``closed`` — it never went out, and nothing will send it now.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

import structlog
from sqlmodel import col, select

from activities.common import audit_attempt
from activities.send_settle import adopt, find_own_send, is_unsettled
from db.attempts import append_status, attempt_by_key
from db.engine import SessionFactory
from db.models import Contact, NotificationAttempt, Refund, utcnow
from domain.vocabulary import AttemptState, Channel, RefundState
from notifier.base import Notifier, ProviderError

__all__ = ["Unanswered", "settle_unanswered_sends"]

log = structlog.get_logger(__name__)

# A create goes out right after its claim and gives up after the client's request timeout
# (15 s by default): a send created later than this after the claim's last change is another
# attempt's.
CREATE_WINDOW = timedelta(minutes=2)


@dataclass(frozen=True)
class Unanswered:
    found: int = 0  # adopted: Twilio has the send
    absent: int = 0  # recorded closed: Twilio never got it and the refund is closed
    errors: int = 0  # Twilio could not be asked; the next pass asks again


def _left_unsettled(attempt: NotificationAttempt) -> bool:
    return attempt.provider_sid is None and (
        is_unsettled(attempt) or attempt.status == AttemptState.UNKNOWN
    )


async def settle_unanswered_sends(
    sessions: SessionFactory,
    notifier: Notifier,
    *,
    settled_for: timedelta,
    give_up_after: timedelta,
    limit: int,
) -> Unanswered:
    """Settle sends claimed or unknown, with no sid, unchanged for ``settled_for``."""
    now = utcnow()
    async with sessions() as session:
        statement = (
            select(NotificationAttempt.idempotency_key)
            .where(
                col(NotificationAttempt.channel).in_((Channel.SMS, Channel.CALL)),
                col(NotificationAttempt.provider_sid).is_(None),
                col(NotificationAttempt.status).in_((AttemptState.CLAIMED, AttemptState.UNKNOWN)),
                col(NotificationAttempt.updated_at) <= now - settled_for,
                col(NotificationAttempt.updated_at) >= now - give_up_after,
            )
            .order_by(col(NotificationAttempt.created_at))
            .limit(limit)
        )
        keys = list((await session.exec(statement)).all())
    found = absent = errors = 0
    for key in keys:
        try:
            outcome = await _settle_one(sessions, notifier, key, now - settled_for)
        except ProviderError as err:
            errors += 1
            log.warning("unanswered_send_unsettled", idempotency_key=key, error=err.message)
            continue
        found += outcome == "found"
        absent += outcome == "absent"
    if keys:
        log.info("unanswered_sends_settled", found=found, absent=absent, errors=errors)
    return Unanswered(found, absent, errors)


async def _settle_one(
    sessions: SessionFactory, notifier: Notifier, key: str, unchanged_since: datetime
) -> Literal["found", "absent"] | None:
    async with sessions() as session:
        attempt = await attempt_by_key(session, key, for_update=True)
        # A watch's retry may have settled it since the list was read.
        if attempt is None or not _left_unsettled(attempt):
            return None
        if attempt.updated_at > unchanged_since or attempt.contact_id is None:
            return None
        contact = await session.get(Contact, attempt.contact_id)
        refund = await session.get(Refund, attempt.refund_id)
        if contact is None or refund is None:
            return None
        until = attempt.updated_at + CREATE_WINDOW
        send = await find_own_send(session, notifier, attempt, contact, until=until)
        if send is not None:
            await adopt(session, attempt, send)
            log.info("unanswered_send_found", idempotency_key=key, sid=send.sid)
            return "found"
        if refund.state == RefundState.OPEN:
            return None  # the watch may still try this key; it settles it then
        append_status(attempt, AttemptState.CLOSED, reason="absent from the provider's records")
        session.add(attempt)
        await audit_attempt(session, attempt, "send.absent")
        await session.commit()
        return "absent"
