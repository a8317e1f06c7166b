"""What a message says about a refund (messages.texts.RefundFacts), built from its rows.

One place for the activities (SMS, in-app) and the voice webhook (calls).
"""

from __future__ import annotations

from sqlmodel.ext.asyncio.session import AsyncSession

from db.models import Merchant, Refund, utcnow
from domain.money import format_money
from messages.texts import RefundFacts
from risk.assessments import refund_is_abnormal

__all__ = ["message_facts", "refund_facts"]


def refund_facts(
    refund: Refund, merchant: Merchant, *, abnormal: bool = False, evidence: bool = False
) -> RefundFacts:
    """``evidence``: the message is the "evidence still missing" reminder of a dispute."""
    now = utcnow()
    due = refund.evidence_due_at
    return RefundFacts(
        refund_id=refund.refund_id,
        order_id=refund.order_id,
        amount=format_money(refund.amount_minor, refund.currency),
        time_left=refund.deadline_at - now,
        language=merchant.language,
        reply_code=refund.reply_code or "",
        abnormal=abnormal,
        evidence_left=(due - now) if evidence and due is not None else None,
    )


async def message_facts(
    session: AsyncSession, refund: Refund, merchant: Merchant, *, evidence: bool = False
) -> RefundFacts:
    """The facts of the refund a message is about, with its one-click rejection option."""
    abnormal = not evidence and await refund_is_abnormal(session, refund.refund_id)
    return refund_facts(refund, merchant, abnormal=abnormal, evidence=evidence)
