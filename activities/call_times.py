"""Learned call times, the I/O half: keeping each call's outcome by the contact's local hour,
and reading a contact's history back as answer odds per hour (domain/answer_odds.py) laid on
the UTC clock (domain/call_times.hour_slots). Both run as local activities of the watch.

Learning is best effort: a write or read that fails is logged and the watch goes on with the
ladder as planned (and learns nothing from that call); it must never hold a refund up.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

from sqlalchemy.exc import SQLAlchemyError
from temporalio import activity

from activities.common import logger_for
from activities.types import CallOddsInput, CallOutcomeInput
from db.attempts import attempt_by_key, nth_contact
from db.call_outcomes import contact_outcomes, keep_call_outcome
from db.engine import SessionFactory
from db.models import Merchant, Refund
from domain.answer_odds import PRIOR_CURVES, hour_odds, tally
from domain.call_times import HourSlot, hour_slots

__all__ = ["CallTimeActivities"]


class CallTimeActivities:
    def __init__(self, sessions: SessionFactory) -> None:
        self._sessions = sessions

    def all(self) -> list[Callable[..., Any]]:
        return [self.record_call_outcome, self.call_odds]

    @activity.defn(name="record_call_outcome")
    async def record_call_outcome(self, request: CallOutcomeInput) -> bool:
        """True if recorded now (False: recorded before, or nothing to record it against)."""
        try:
            async with self._sessions() as session:
                attempt = await attempt_by_key(session, request.idempotency_key)
                if attempt is None or attempt.contact_id is None:
                    return False
                merchant = await session.get(Merchant, attempt.merchant_id)
                if merchant is None:
                    return False
                kept = await keep_call_outcome(
                    session,
                    idempotency_key=request.idempotency_key,
                    merchant_id=attempt.merchant_id,
                    contact_id=attempt.contact_id,
                    called_at=attempt.created_at,
                    timezone=merchant.timezone,
                    outcome=request.outcome,
                )
                await session.commit()
                return kept
        except SQLAlchemyError as exc:
            logger_for(request.refund_id, "", "").warning(
                "call_outcome_not_kept", idempotency_key=request.idempotency_key, error=str(exc)
            )
            return False

    @activity.defn(name="call_odds")
    async def call_odds(self, request: CallOddsInput) -> list[HourSlot]:
        """The first contact's answer odds per local hour over [start, until]; empty when the
        refund, merchant or contact is unknown or the history cannot be read."""
        try:
            async with self._sessions() as session:
                refund = await session.get(Refund, request.refund_id)
                if refund is None:
                    return []
                merchant = await session.get(Merchant, refund.merchant_id)
                contact = await nth_contact(session, refund.merchant_id, 0)
                if merchant is None or contact is None or contact.id is None:
                    return []
                since = request.start - timedelta(days=request.history_days)
                history = await contact_outcomes(session, contact.id, since)
                timezone = merchant.timezone
        except SQLAlchemyError as exc:
            logger_for(request.refund_id, "", "").warning("call_odds_unread", error=str(exc))
            return []
        prior = PRIOR_CURVES.get(request.prior, PRIOR_CURVES["phoneburner_hiya"])
        odds = hour_odds(tally(history), prior, request.prior_weight)
        return hour_slots(timezone, request.start, request.until, odds)
