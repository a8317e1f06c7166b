"""Bulk intake (``POST /v1/refunds/batch``): hundreds of refunds in one request, for backfills
and reconciliation. Each item gets the answer the single endpoint would give it (201, 200,
409, 422, 503), by the same rules (application/intake.py): the same payload comparison, the
same risk gate, the same rows. What changes is the round trips: one read of the refunds
already known, one locked read of the merchants, one commit for every new refund, then the
watches started concurrently and recorded in a second commit.

A refund id that appears twice in one batch is answered like a repeated request: the second
is 200 with the first's answer if it is the same, 409 if not.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Any

import structlog
from pydantic import ValidationError
from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession
from temporalio.service import RPCError

from application.intake import (
    RECENT_AMOUNTS,
    IntakeConflict,
    UnknownMerchant,
    add_rows,
    differences,
    intake_body,
    log_received,
    new_rows,
    payload_digest,
    pick_reply_code,
    score,
    take_refund,
    typical_of,
)
from application.schemas import RefundBatchItemOut, RefundBatchOut, RefundIn
from application.services import Services
from application.watches import ensure_watch_started, ensure_watches_started
from db.models import Merchant, Refund, RiskAssessment
from domain.vocabulary import RefundState

__all__ = ["STILL_STARTING", "take_refunds"]

log = structlog.get_logger(__name__)
STILL_STARTING = "the refund is stored but its watch could not start; send the same request again"


@dataclass
class _Item:
    index: int
    request: RefundIn
    canonical: dict[str, Any]
    digest: str


def _invalid(index: int, raw: Any, err: ValidationError) -> RefundBatchItemOut:
    detail = [
        {"loc": ["body", "refunds", index, *e["loc"]], "msg": e["msg"], "type": e["type"]}
        for e in err.errors(include_url=False, include_context=False, include_input=False)
    ]
    refund_id = raw.get("refund_id") if isinstance(raw, dict) else None
    return RefundBatchItemOut(
        index=index,
        refund_id=refund_id if isinstance(refund_id, str) else None,
        status=422,
        error=detail,
    )


def _unknown_merchant(item: _Item) -> RefundBatchItemOut:
    merchant_id = item.request.merchant_id
    return RefundBatchItemOut(
        index=item.index,
        refund_id=item.request.refund_id,
        status=422,
        error=[
            {
                "loc": ["body", "refunds", item.index, "merchant_id"],
                "msg": f"unknown merchant {merchant_id!r}: create it with POST /v1/merchants",
                "type": "unknown_merchant",
            }
        ],
    )


def _conflict(item: _Item, fields: list[str]) -> RefundBatchItemOut:
    refund_id = item.request.refund_id
    return RefundBatchItemOut(
        index=item.index,
        refund_id=refund_id,
        status=409,
        error={
            "message": f"refund {refund_id} was already received with different content",
            "fields": fields,
        },
    )


async def _first_assessments(session: AsyncSession, ids: list[str]) -> dict[str, RiskAssessment]:
    rows = await session.exec(
        select(RiskAssessment)
        .where(col(RiskAssessment.refund_id).in_(ids))
        .order_by(col(RiskAssessment.id))
    )
    first: dict[str, RiskAssessment] = {}
    for row in rows.all():
        first.setdefault(row.refund_id, row)
    return first


class _Ledger:
    """Per merchant, what the next new refund is scored and coded against: its recent amounts
    (newest first, as the single intake reads them) and the reply codes its open refunds use;
    each read once, then kept up to date as the batch adds refunds."""

    def __init__(self, session: AsyncSession) -> None:
        self._session = session
        self._amounts: dict[tuple[str, str], list[int]] = {}
        self._codes: dict[str, set[str]] = {}

    async def amounts(self, merchant_id: str, currency: str) -> list[int]:
        key = (merchant_id, currency)
        if key not in self._amounts:
            statement = (
                select(Refund.amount_minor)
                .where(Refund.merchant_id == merchant_id, Refund.currency == currency)
                .order_by(col(Refund.created_at).desc())
                .limit(RECENT_AMOUNTS)
            )
            self._amounts[key] = list((await self._session.exec(statement)).all())
        return self._amounts[key]

    async def codes(self, merchant_id: str) -> set[str]:
        if merchant_id not in self._codes:
            statement = select(Refund.reply_code).where(
                Refund.merchant_id == merchant_id, Refund.state == RefundState.OPEN
            )
            used = (await self._session.exec(statement)).all()
            self._codes[merchant_id] = {code for code in used if code}
        return self._codes[merchant_id]


async def take_refunds(services: Services, raw_items: list[dict[str, Any]]) -> RefundBatchOut:
    answers: dict[int, RefundBatchItemOut] = {}
    items: list[_Item] = []
    for index, raw in enumerate(raw_items):
        try:
            request = RefundIn.model_validate(raw)
        except ValidationError as err:
            answers[index] = _invalid(index, raw, err)
            continue
        canonical = request.canonical()
        items.append(_Item(index, request, canonical, payload_digest(canonical)))
    if items:
        await _take_valid(services, items, answers)
    results = [answers[index] for index in sorted(answers)]
    counts = Counter(str(result.status) for result in results)
    return RefundBatchOut(results=results, counts=dict(sorted(counts.items())))


async def _take_valid(
    services: Services, items: list[_Item], answers: dict[int, RefundBatchItemOut]
) -> None:
    async with services.sessions() as session:
        ids = sorted({item.request.refund_id for item in items})
        known = {
            refund.refund_id: refund
            for refund in (
                await session.exec(select(Refund).where(col(Refund.refund_id).in_(ids)))
            ).all()
        }
        wanted = sorted({i.request.merchant_id for i in items if i.request.refund_id not in known})
        # Locked in one order (PostgreSQL), as the single intake locks its one merchant, so
        # concurrent intakes pick different reply codes and two batches cannot deadlock.
        merchants = {
            merchant.merchant_id: merchant
            for merchant in (
                await session.exec(
                    select(Merchant)
                    .where(col(Merchant.merchant_id).in_(wanted))
                    .order_by(col(Merchant.merchant_id))
                    .with_for_update()
                )
            ).all()
        }
        ledger = _Ledger(session)
        created: dict[str, tuple[Refund, RiskAssessment, Merchant]] = {}
        repeats: list[_Item] = []
        for item in items:
            request = item.request
            earlier = known.get(request.refund_id)
            if earlier is None and request.refund_id in created:
                earlier = created[request.refund_id][0]
            if earlier is not None:
                if earlier.payload_hash != item.digest:
                    answers[item.index] = _conflict(
                        item, differences(earlier.intake, item.canonical)
                    )
                else:
                    repeats.append(item)
                continue
            merchant = merchants.get(request.merchant_id)
            if merchant is None:
                answers[item.index] = _unknown_merchant(item)
                continue
            amounts = await ledger.amounts(request.merchant_id, request.currency)
            result = await score(services, session, request, typical_of(amounts, request.currency))
            code = None
            if result.tracked:
                used = await ledger.codes(request.merchant_id)
                code = pick_reply_code(used)
                used.add(code)
            refund, assessment = new_rows(request, item.canonical, item.digest, result, code)
            add_rows(session, refund, assessment)
            amounts.insert(0, request.amount_minor)
            del amounts[RECENT_AMOUNTS:]
            created[request.refund_id] = (refund, assessment, merchant)
        try:
            await session.commit()
        except IntegrityError:
            # Another request took some of these ids meanwhile: each new one goes the single
            # way, which settles such a race item by item.
            await session.rollback()
            fresh = [i for i in items if i.request.refund_id in created]
            await _one_by_one(services, fresh, answers)
            created, fresh_ids = {}, {i.request.refund_id for i in fresh}
            repeats = [i for i in repeats if i.request.refund_id not in fresh_ids]
        for refund, assessment, _ in created.values():
            log_received(refund, assessment)
        failed = await ensure_watches_started(services, session, list(created.values()))
        repeated = {i.index for i in repeats}
        for item in items:
            entry = created.get(item.request.refund_id)
            if entry is None or item.index in answers or item.index in repeated:
                continue
            answers[item.index] = _answer(item, entry[0], entry[1], failed, status=201)
        await _repeated(services, session, repeats, known, created, failed, answers)


def _answer(
    item: _Item,
    refund: Refund,
    assessment: RiskAssessment,
    failed: dict[str, Exception],
    *,
    status: int,
) -> RefundBatchItemOut:
    error = failed.get(refund.refund_id)
    if error is not None:
        log.error("watch_start_failed", refund_id=refund.refund_id, error=str(error))
        return RefundBatchItemOut(
            index=item.index, refund_id=refund.refund_id, status=503, error=STILL_STARTING
        )
    return RefundBatchItemOut(
        index=item.index,
        refund_id=refund.refund_id,
        status=status,
        refund=intake_body(refund, assessment),
    )


async def _repeated(
    services: Services,
    session: AsyncSession,
    repeats: list[_Item],
    known: dict[str, Refund],
    created: dict[str, tuple[Refund, RiskAssessment, Merchant]],
    failed: dict[str, Exception],
    answers: dict[int, RefundBatchItemOut],
) -> None:
    """Items received before (earlier requests or earlier in this batch): 200 with the same
    answer, after starting a watch that is still missing (as the single endpoint does)."""
    earlier_ids = [i.request.refund_id for i in repeats if i.request.refund_id in known]
    first = await _first_assessments(session, earlier_ids) if earlier_ids else {}
    for item in repeats:
        refund_id = item.request.refund_id
        if refund_id in created:
            refund, assessment, _ = created[refund_id]
        else:
            refund, assessment = known[refund_id], first[refund_id]
            if refund.tracked and refund.workflow_started_at is None:
                try:
                    await ensure_watch_started(services, session, refund, risk=assessment)
                except RPCError as err:
                    failed[refund_id] = err
        answers[item.index] = _answer(item, refund, assessment, failed, status=200)


async def _one_by_one(
    services: Services, items: list[_Item], answers: dict[int, RefundBatchItemOut]
) -> None:
    for item in items:
        try:
            result = await take_refund(services, item.request)
        except IntakeConflict as conflict:
            answers[item.index] = _conflict(item, conflict.fields)
        except UnknownMerchant:
            answers[item.index] = _unknown_merchant(item)
        except RPCError as err:
            log.error("watch_start_failed", refund_id=item.request.refund_id, error=str(err))
            answers[item.index] = RefundBatchItemOut(
                index=item.index,
                refund_id=item.request.refund_id,
                status=503,
                error=STILL_STARTING,
            )
        else:
            answers[item.index] = RefundBatchItemOut(
                index=item.index,
                refund_id=item.request.refund_id,
                status=201 if result.created else 200,
                refund=result.body,
            )
