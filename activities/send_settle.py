"""Settling a send whose create request got no answer: did it reach the provider?

A create that timed out may still have sent (DESIGN.md, Twilio). Its attempt is left
``claimed`` with no sid. The next try asks the provider's own records before anything else:
a callback may have named the sid already (our callback URLs carry the key); else the sends
to that number since the claim are listed (Calls / Messages list, filtered by To and From) and
one that no other attempt has adopted (for an SMS: with the same text) is taken as ours. A
send found is adopted, never sent again; one proven absent, once the provider's records have
had time to show it, is sent again under the same key.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession
from temporalio.exceptions import ApplicationError

from activities.common import audit_attempt
from db.attempts import mark_accepted
from db.models import Contact, NotificationAttempt, utcnow
from domain.vocabulary import AttemptState, Channel
from notifier.base import Notifier, SendLookup
from notifier.errors import ProviderError

__all__ = ["adopt", "find_own_send", "is_unsettled", "settle"]
# Sends created a little before the claim's last change still count (clocks, rounding).
_SLACK = timedelta(seconds=5)


def is_unsettled(attempt: NotificationAttempt) -> bool:
    """Claimed, the provider maybe called, no answer recorded: it may or may not have sent."""
    return attempt.status == AttemptState.CLAIMED and attempt.provider_sid is None


async def settle(
    session: AsyncSession,
    notifier: Notifier,
    attempt: NotificationAttempt,
    contact: Contact,
    settle_after: timedelta,
) -> bool:
    """True: the send was found and adopted (committed). False: proven absent, send again.
    Raises a retryable ApplicationError while it cannot be told yet: ``settle_after`` is how
    long after the claim's last change a send must be missing from the provider's records to
    count as never sent (Twilio's resources exist once a create succeeded; the margin covers
    a create still on its way when the first try gave up)."""
    try:
        found = await find_own_send(session, notifier, attempt, contact)
    except ProviderError as err:
        raise ApplicationError(
            f"cannot ask the provider about an unanswered send: {err.message}",
            type="SendUnsettled",
        ) from err
    if found is not None:
        await adopt(session, attempt, found)
        return True
    if utcnow() - attempt.updated_at < settle_after:
        raise ApplicationError(
            "the provider's records do not show this send yet; asking again shortly",
            type="SendUnsettled",
        )
    return False


async def find_own_send(
    session: AsyncSession,
    notifier: Notifier,
    attempt: NotificationAttempt,
    contact: Contact,
    *,
    until: datetime | None = None,
) -> SendLookup | None:
    """The provider's record of this attempt's send, if it has one: the earliest send to the
    contact since the claim (and, given ``until``, created no later) that no other attempt
    has adopted (for an SMS: with the same text). Raises ProviderError if the provider
    cannot be asked."""
    channel = Channel(attempt.channel)
    since = attempt.created_at - _SLACK
    found = await notifier.find_sends(channel=channel, to=contact.phone, since=since)
    if until is not None:
        found = [send for send in found if send.created_at is None or send.created_at <= until]
    mine = await _not_adopted(session, found)
    if channel == Channel.SMS and attempt.body is not None:
        mine = [send for send in mine if send.body == attempt.body]
    if not mine:
        return None
    return min(mine, key=lambda send: send.created_at or utcnow())


async def adopt(session: AsyncSession, attempt: NotificationAttempt, found: SendLookup) -> None:
    """Record the provider's send as this attempt's (committed, audited ``send.found``)."""
    mark_accepted(attempt, found.sid, how="found")
    session.add(attempt)
    await audit_attempt(session, attempt, "send.found")
    await session.commit()


async def _not_adopted(session: AsyncSession, found: list[SendLookup]) -> list[SendLookup]:
    """The sends no other attempt has claimed as its own."""
    if not found:
        return []
    sids = [send.sid for send in found]
    taken = set(
        (
            await session.exec(
                select(NotificationAttempt.provider_sid).where(
                    col(NotificationAttempt.provider_sid).in_(sids)
                )
            )
        ).all()
    )
    return [send for send in found if send.sid not in taken]
