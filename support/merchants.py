"""What support staff see of a merchant: masked contacts, opt-out state, open refunds, totals."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel
from sqlalchemy import func
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from db.models import Contact, LossEntry, Merchant, Refund
from domain.masking import mask_name, mask_phone
from domain.money import from_minor
from support.at_risk import AtRiskRefund, load_at_risk

__all__ = ["ContactView", "MerchantTotals", "MerchantView", "load_merchant_view"]


class ContactView(BaseModel):
    priority: int
    name: str
    phone: str
    active: bool
    sms_opted_out: bool


class MerchantTotals(BaseModel):
    """All time. ``refunds`` counts every refund received, by state (untracked included)."""

    refunds: dict[str, int]
    saved: dict[str, str]
    lost: dict[str, str]
    open: dict[str, str]


class MerchantView(BaseModel):
    merchant_id: str
    name: str
    timezone: str
    language: str
    quiet_hours: str | None
    created_at: datetime
    contacts: list[ContactView]
    open_refunds: list[AtRiskRefund]
    totals: MerchantTotals


def _money(rows: dict[str, int]) -> dict[str, str]:
    return {currency: str(from_minor(minor, currency)) for currency, minor in sorted(rows.items())}


async def _totals(session: AsyncSession, merchant_id: str) -> MerchantTotals:
    counts = (
        await session.exec(
            select(col(Refund.state), func.count())
            .where(Refund.merchant_id == merchant_id)
            .group_by(col(Refund.state))
        )
    ).all()
    tracked = (
        await session.exec(
            select(col(Refund.state), col(Refund.currency), func.sum(col(Refund.amount_minor)))
            .where(Refund.merchant_id == merchant_id, col(Refund.tracked).is_(True))
            .group_by(col(Refund.state), col(Refund.currency))
        )
    ).all()
    saved = {currency: int(amount) for state, currency, amount in tracked if state == "resolved"}
    still_open = {currency: int(amount) for state, currency, amount in tracked if state == "open"}
    losses = (
        await session.exec(
            select(col(LossEntry.currency), func.sum(col(LossEntry.amount_minor)))
            .where(LossEntry.merchant_id == merchant_id)
            .group_by(col(LossEntry.currency))
        )
    ).all()
    return MerchantTotals(
        refunds={state: int(count) for state, count in sorted(counts)},
        saved=_money(saved),
        lost=_money({currency: int(amount) for currency, amount in losses}),
        open=_money(still_open),
    )


async def load_merchant_view(session: AsyncSession, merchant_id: str) -> MerchantView | None:
    merchant = await session.get(Merchant, merchant_id)
    if merchant is None:
        return None
    contacts = (
        await session.exec(
            select(Contact)
            .where(Contact.merchant_id == merchant_id)
            .order_by(col(Contact.active).desc(), col(Contact.priority), col(Contact.id))
        )
    ).all()
    quiet = (
        f"{merchant.quiet_start}–{merchant.quiet_end}"
        if merchant.quiet_start and merchant.quiet_end
        else None
    )
    return MerchantView(
        merchant_id=merchant.merchant_id,
        # Shop names are often a person's name: masked like contact names.
        name=mask_name(merchant.name),
        timezone=merchant.timezone,
        language=merchant.language,
        quiet_hours=quiet,
        created_at=merchant.created_at,
        contacts=[
            ContactView(
                priority=c.priority,
                name=mask_name(c.name),
                phone=mask_phone(c.phone),
                active=c.active,
                sms_opted_out=c.sms_opted_out,
            )
            for c in contacts
        ],
        open_refunds=await load_at_risk(session, merchant_id=merchant_id),
        totals=await _totals(session, merchant_id),
    )
