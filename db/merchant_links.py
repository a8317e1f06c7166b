"""Action links: the row behind each ``/m/<token>`` (only the token id's hash is stored).

A link is minted with the SMS that carries it, in the same transaction as the send's claim,
so a send and its link exist together or not at all; a retry of the same send reuses the
text it stored, and so the same link. What a link may still do is decided in
:func:`link_state` from the rows of its refunds, not from a stored flag that could go stale
when the platform moves a deadline.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from enum import StrEnum

from sqlalchemy import JSON, Column
from sqlmodel import Field, SQLModel, col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from db.models import Refund, utcnow
from db.types import UTCDateTime
from domain.action_links import mint_token

__all__ = [
    "LINK_AFTER_CLOSE",
    "LinkState",
    "MerchantLink",
    "find_link",
    "link_refunds",
    "link_state",
    "mint_link",
    "revoke_links",
]

# Once every refund of a link is closed, the page still shows what happened for this long.
LINK_AFTER_CLOSE = timedelta(hours=1)


class MerchantLink(SQLModel, table=True):
    __tablename__ = "merchant_links"

    id: int | None = Field(default=None, primary_key=True)
    id_hash: str = Field(unique=True, max_length=64)  # sha256 of the token's random id
    merchant_id: str = Field(foreign_key="merchants.merchant_id", index=True, max_length=64)
    refund_ids: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    # The send that carried it (notification_attempts.idempotency_key), if any.
    attempt_key: str | None = Field(default=None, max_length=200, index=True)
    created_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    # When its refunds were due to close at minting (the latest deadline or evidence deadline).
    expires_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    revoked_at: datetime | None = Field(
        default=None, sa_column=Column(UTCDateTime(), nullable=True)
    )
    revoked_reason: str | None = Field(default=None, max_length=200)


class LinkState(StrEnum):
    LIVE = "live"  # at least one of its refunds is open: actions allowed (the watch decides)
    AFTER_CLOSE = "after_close"  # all closed, recently: the page shows the outcome, no forms
    EXPIRED = "expired"
    REVOKED = "revoked"


def _closes_at(refund: Refund) -> datetime:
    due = refund.evidence_due_at
    return max(refund.deadline_at, due) if due is not None else refund.deadline_at


async def mint_link(
    session: AsyncSession,
    key: bytes,
    merchant_id: str,
    refunds: list[Refund],
    *,
    attempt_key: str | None = None,
) -> str:
    """Add a link for ``refunds`` (all the merchant's) and return its token; no commit."""
    assert refunds
    assert all(r.merchant_id == merchant_id for r in refunds)
    minted = mint_token(key)
    session.add(
        MerchantLink(
            id_hash=minted.id_hash,
            merchant_id=merchant_id,
            refund_ids=[r.refund_id for r in refunds],
            attempt_key=attempt_key,
            created_at=utcnow(),
            expires_at=max(_closes_at(r) for r in refunds),
        )
    )
    return minted.token


async def find_link(session: AsyncSession, id_hash: str) -> MerchantLink | None:
    statement = select(MerchantLink).where(MerchantLink.id_hash == id_hash)
    return (await session.exec(statement)).first()


async def link_refunds(session: AsyncSession, link: MerchantLink) -> list[Refund]:
    """The link's refunds that are this merchant's, soonest deadline first."""
    statement = (
        select(Refund)
        .where(col(Refund.refund_id).in_(link.refund_ids), Refund.merchant_id == link.merchant_id)
        .order_by(col(Refund.deadline_at))
    )
    return list((await session.exec(statement)).all())


def link_state(link: MerchantLink, refunds: list[Refund], now: datetime | None = None) -> LinkState:
    now = now or utcnow()
    if link.revoked_at is not None:
        return LinkState.REVOKED
    if any(r.closed_at is None for r in refunds):
        return LinkState.LIVE
    closed = [r.closed_at for r in refunds if r.closed_at is not None]
    last = max(closed) if closed else link.expires_at
    if now < last + LINK_AFTER_CLOSE:
        return LinkState.AFTER_CLOSE
    return LinkState.EXPIRED


async def revoke_links(
    session: AsyncSession, merchant_id: str, reason: str, *, refund_id: str | None = None
) -> list[MerchantLink]:
    """Revoke the merchant's live links (or those listing ``refund_id``); no commit."""
    statement = select(MerchantLink).where(
        MerchantLink.merchant_id == merchant_id, col(MerchantLink.revoked_at).is_(None)
    )
    revoked = []
    for link in (await session.exec(statement)).all():
        if refund_id is not None and refund_id not in link.refund_ids:
            continue
        link.revoked_at, link.revoked_reason = utcnow(), reason[:200]
        session.add(link)
        revoked.append(link)
    return revoked
