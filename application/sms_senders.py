"""Who an inbound SMS is from, what they have open, and their SMS opt-out record."""

from __future__ import annotations

from collections.abc import Sequence

from sqlmodel import col, select

from application.services import Services
from db.audit import append_audit
from db.models import Contact, Merchant, Refund
from domain.vocabulary import RefundState

__all__ = ["contacts_for_phone", "language_of_sender", "open_refunds_of", "record_sms_opt_out"]


async def language_of_sender(services: Services, contacts: Sequence[Contact]) -> str:
    """The language replies to this number are written in: its first merchant's setting."""
    async with services.sessions() as session:
        for contact in contacts:
            merchant = await session.get(Merchant, contact.merchant_id)
            if merchant is not None:
                return merchant.language
    return "en"


async def contacts_for_phone(services: Services, phone: str) -> list[Contact]:
    async with services.sessions() as session:
        statement = select(Contact).where(Contact.phone == phone, col(Contact.active).is_(True))
        return list((await session.exec(statement)).all())


async def open_refunds_of(services: Services, merchant_ids: set[str]) -> list[Refund]:
    """Their open refunds, closest deadline first (an SMS reply picks one by its code)."""
    async with services.sessions() as session:
        statement = (
            select(Refund)
            .where(col(Refund.merchant_id).in_(merchant_ids), Refund.state == RefundState.OPEN)
            .order_by(col(Refund.deadline_at))
        )
        return list((await session.exec(statement)).all())


async def record_sms_opt_out(
    services: Services,
    contacts: Sequence[Contact],
    *,
    opted_out: bool,
    keyword: str,
    message_sid: str,
) -> None:
    """STOP (or START again) from a number: every contact with that number, audited once per
    message. Our send path honours it; Twilio blocks its own keywords on its side as well."""
    async with services.sessions() as session:
        for listed in contacts:
            contact = await session.get(Contact, listed.id)
            if contact is None:
                continue
            contact.sms_opted_out = opted_out
            session.add(contact)
            await append_audit(
                session,
                kind="contact.sms_opted_out" if opted_out else "contact.sms_opted_in",
                actor="merchant",
                merchant_id=contact.merchant_id,
                detail={"contact_id": contact.id, "keyword": keyword},
                dedup_key=f"sms:{message_sid}:{contact.id}",
            )
        await session.commit()
