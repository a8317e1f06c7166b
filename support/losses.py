"""Money saved, lost and still open, per channel and per merchant.

Definitions (the same words are in docs/support.md, for support staff):

- **saved**: tracked refunds that closed ``resolved`` (the platform approved, rejected or cancelled
  them before the deadline) with ``closed_at`` in ``[since, until)``. The amount is the refund's.
- **lost**: loss-ledger entries (refunds that reached their deadline unresolved) with
  ``recorded_at`` in ``[since, until)``, credited to the ledger's ``last_channel``.
- **open**: tracked refunds still ``open`` *now*, whatever the window: the money still at stake.

Which channel gets the credit for a saved (or open) refund:

1. the channel of the merchant's first answer (``merchant_responses.channel``: call, sms, in_app);
2. otherwise the channel of the last notification that reached the merchant before the refund
   closed: an SMS or call the provider accepted (it has a provider sid) or an in-app notice;
3. otherwise ``none`` (the platform resolved it before we contacted anyone).

Amounts are decimal strings per ISO currency (``{"CNY": "3000.00"}``), summed in integer minor
units: never float. Counts are numbers of refunds.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Literal

from pydantic import BaseModel
from sqlmodel import col, or_, select
from sqlmodel.ext.asyncio.session import AsyncSession

from db.models import LossEntry, MerchantResponse, NotificationAttempt, Refund
from domain.money import from_minor

__all__ = [
    "CHANNELS",
    "ChannelFigures",
    "Figures",
    "LossItem",
    "LossesSummary",
    "MerchantFigures",
    "load_loss_items",
    "losses_summary",
    "summarize",
]

# Listed in this order even when empty, so reports always read the same way.
CHANNELS: tuple[str, ...] = ("call", "sms", "in_app", "none")

Kind = Literal["saved", "lost", "open"]


class Figures(BaseModel):
    """Money per currency (decimal strings) and refund counts."""

    saved: dict[str, str] = {}
    saved_count: int = 0
    lost: dict[str, str] = {}
    lost_count: int = 0
    open: dict[str, str] = {}
    open_count: int = 0


class ChannelFigures(Figures):
    channel: str


class MerchantFigures(Figures):
    merchant_id: str


class LossesSummary(BaseModel):
    since: datetime
    until: datetime
    generated_at: datetime
    totals: Figures
    by_channel: list[ChannelFigures]
    by_merchant: list[MerchantFigures]


@dataclass(frozen=True)
class LossItem:
    """One refund's contribution; ``at`` is when it closed (None for an open refund)."""

    kind: Kind
    refund_id: str
    merchant_id: str
    channel: str
    amount_minor: int
    currency: str
    at: datetime | None


@dataclass
class _Tally:
    money: dict[Kind, dict[str, int]] = field(
        default_factory=lambda: {"saved": {}, "lost": {}, "open": {}}
    )
    counts: dict[Kind, int] = field(default_factory=lambda: {"saved": 0, "lost": 0, "open": 0})

    def add(self, item: LossItem) -> None:
        per_currency = self.money[item.kind]
        per_currency[item.currency] = per_currency.get(item.currency, 0) + item.amount_minor
        self.counts[item.kind] += 1

    def figures(self) -> dict[str, object]:
        def money(kind: Kind) -> dict[str, str]:
            return {
                currency: str(from_minor(minor, currency))
                for currency, minor in sorted(self.money[kind].items())
            }

        return {
            "saved": money("saved"),
            "saved_count": self.counts["saved"],
            "lost": money("lost"),
            "lost_count": self.counts["lost"],
            "open": money("open"),
            "open_count": self.counts["open"],
        }


async def _credited_channels(
    session: AsyncSession, refunds: list[Refund], now: datetime
) -> dict[str, str]:
    """refund id → the channel credited for it (first answer, else last contact, else none)."""
    ids = [refund.refund_id for refund in refunds]
    if not ids:
        return {}
    channels: dict[str, str] = {}
    responses = await session.exec(
        select(MerchantResponse)
        .where(col(MerchantResponse.refund_id).in_(ids))
        .order_by(col(MerchantResponse.received_at), col(MerchantResponse.id))
    )
    for response in responses.all():
        channels.setdefault(response.refund_id, response.channel)

    closed_at = {refund.refund_id: refund.closed_at or now for refund in refunds}
    unanswered = [refund_id for refund_id in ids if refund_id not in channels]
    if unanswered:
        attempts = await session.exec(
            select(NotificationAttempt)
            .where(
                col(NotificationAttempt.refund_id).in_(unanswered),
                or_(
                    col(NotificationAttempt.provider_sid).is_not(None),
                    col(NotificationAttempt.channel) == "in_app",
                ),
            )
            .order_by(col(NotificationAttempt.created_at), col(NotificationAttempt.id))
        )
        for attempt in attempts.all():
            if attempt.created_at <= closed_at[attempt.refund_id]:
                channels[attempt.refund_id] = attempt.channel  # later rows overwrite: the last
    return {refund_id: channels.get(refund_id, "none") for refund_id in ids}


def _refund_item(kind: Kind, refund: Refund, channel: str, at: datetime | None) -> LossItem:
    r = refund
    return LossItem(kind, r.refund_id, r.merchant_id, channel, r.amount_minor, r.currency, at)


async def load_loss_items(
    session: AsyncSession, *, since: datetime, until: datetime, now: datetime | None = None
) -> list[LossItem]:
    """Every refund that counts as saved or lost in the window, and every open one now."""
    now = now or datetime.now(UTC)
    saved = list(
        (
            await session.exec(
                select(Refund).where(
                    col(Refund.tracked).is_(True),
                    Refund.state == "resolved",
                    col(Refund.closed_at) >= since,
                    col(Refund.closed_at) < until,
                )
            )
        ).all()
    )
    still_open = list(
        (
            await session.exec(
                select(Refund).where(col(Refund.tracked).is_(True), Refund.state == "open")
            )
        ).all()
    )
    losses = (
        await session.exec(
            select(LossEntry).where(
                col(LossEntry.recorded_at) >= since, col(LossEntry.recorded_at) < until
            )
        )
    ).all()
    channels = await _credited_channels(session, saved + still_open, now)

    items = [_refund_item("saved", r, channels[r.refund_id], r.closed_at) for r in saved]
    items += [
        LossItem(
            "lost",
            e.refund_id,
            e.merchant_id,
            e.last_channel or "none",
            e.amount_minor,
            e.currency,
            e.recorded_at,
        )
        for e in losses
    ]
    items += [_refund_item("open", r, channels[r.refund_id], None) for r in still_open]
    return items


def summarize(
    items: list[LossItem], *, since: datetime, until: datetime, generated_at: datetime
) -> LossesSummary:
    totals = _Tally()
    by_channel: dict[str, _Tally] = {channel: _Tally() for channel in CHANNELS}
    by_merchant: dict[str, _Tally] = defaultdict(_Tally)
    for item in items:
        totals.add(item)
        by_channel.setdefault(item.channel, _Tally()).add(item)
        by_merchant[item.merchant_id].add(item)

    channel_order = list(CHANNELS) + sorted(set(by_channel) - set(CHANNELS))
    merchants = sorted(
        by_merchant.items(),
        # Most losses first: that is who support calls about.
        key=lambda pair: (-pair[1].counts["lost"], -pair[1].counts["open"], pair[0]),
    )
    return LossesSummary(
        since=since,
        until=until,
        generated_at=generated_at,
        totals=Figures.model_validate(totals.figures()),
        by_channel=[
            ChannelFigures.model_validate({"channel": c, **by_channel[c].figures()})
            for c in channel_order
        ],
        by_merchant=[
            MerchantFigures.model_validate({"merchant_id": m, **tally.figures()})
            for m, tally in merchants
        ],
    )


async def losses_summary(
    session: AsyncSession, *, since: datetime, until: datetime
) -> LossesSummary:
    """Saved and lost in ``[since, until)`` and open now, per channel and merchant.

    See the module docstring for the exact definitions and channel credit rules.
    """
    if since.tzinfo is None or until.tzinfo is None:
        raise ValueError("since and until must be timezone-aware")
    now = datetime.now(UTC)
    items = await load_loss_items(session, since=since, until=until, now=now)
    return summarize(items, since=since, until=until, generated_at=now)
