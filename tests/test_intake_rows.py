"""Intake's Core statements (db/intake_rows.py) on both databases: PostgreSQL (the one-statement
paths) and SQLite (the demo's, plain statements). The API tests cover them on PostgreSQL through
POST /v1/refunds; this covers SQLite too and each rule directly."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlmodel import col, select

from db import intake_rows
from db.audit import audit_values
from db.engine import make_engine, make_session_factory
from db.intake_rows import insert_rows, mark_started, read_intake_context
from db.migrate import upgrade
from db.models import AuditEvent, Merchant, Refund, RiskAssessment, utcnow
from tests.harness.database import fresh_database

MERCHANT = "m-rows"


@pytest.fixture(params=["postgresql", "sqlite"])
async def engine(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[AsyncEngine]:
    if request.param == "postgresql":
        async with fresh_database("rw_rows") as url:
            made = make_engine(url)
            yield made
            await made.dispose()
        return
    url = f"sqlite+aiosqlite:///{tmp_path / 'rows.db'}"
    await asyncio.to_thread(upgrade, url)
    made = make_engine(url)
    yield made
    await made.dispose()


def _refund(
    refund_id: str,
    amount_minor: int,
    *,
    currency: str = "CNY",
    state: str = "open",
    code: str | None = None,
    age_s: int = 0,
) -> Refund:
    now = utcnow() - timedelta(seconds=age_s)
    return Refund(
        refund_id=refund_id,
        merchant_id=MERCHANT,
        order_id=f"O-{refund_id}",
        amount_minor=amount_minor,
        currency=currency,
        reason="not as described",
        requested_at=now,
        deadline_at=now + timedelta(hours=48),
        signals={"buyer_id": "b-1"},
        payload_hash="0" * 64,
        intake={"refund_id": refund_id},
        tracked=True,
        reply_code=code,
        workflow_id=f"refund-{refund_id}",
        state=state,
        stage="received",
        created_at=now,
    )


def _assessment(refund_id: str) -> RiskAssessment:
    return RiskAssessment(
        refund_id=refund_id,
        score=40,
        level="high",
        tracked=True,
        reasons=[{"code": "amount", "points": 40, "text": "large"}],
        rules_version="v1",
        created_at=utcnow(),
    )


def _audits(refund_id: str) -> list[dict[str, object]]:
    return [
        audit_values(
            kind=kind,
            actor="platform",
            refund_id=refund_id,
            merchant_id=MERCHANT,
            detail={"n": index},
        )
        for index, kind in enumerate(("refund.received", "risk.assessed"))
    ]


async def _store(engine: AsyncEngine, refund: Refund) -> None:
    async with engine.begin() as conn:
        await insert_rows(conn, refund, _assessment(refund.refund_id), _audits(refund.refund_id))


async def test_context_locks_nothing_unknown_and_reads_amounts_and_open_codes(
    engine: AsyncEngine,
) -> None:
    async with engine.begin() as conn:
        unknown = await read_intake_context(conn, "R-0", MERCHANT, "CNY")
    assert unknown.merchant is None and not unknown.stored_before

    now = utcnow()
    async with make_session_factory(engine)() as session:
        session.add(
            Merchant(
                merchant_id=MERCHANT,
                name="Shop",
                timezone="Asia/Shanghai",
                language="zh-CN",
                created_at=now,
                updated_at=now,
            )
        )
        await session.commit()
    await _store(engine, _refund("R-1", 100_00, code="A", age_s=30))
    await _store(engine, _refund("R-2", 300_00, code="B", state="resolved", age_s=20))
    await _store(engine, _refund("R-3", 999_00, currency="USD", code="C", age_s=10))

    async with engine.begin() as conn:
        fresh = await read_intake_context(conn, "R-4", MERCHANT, "CNY")
        again = await read_intake_context(conn, "R-1", MERCHANT, "CNY")
    assert fresh.merchant is not None and fresh.merchant.timezone == "Asia/Shanghai"
    assert not fresh.stored_before and again.stored_before
    assert sorted(fresh.recent_amounts) == [100_00, 300_00], "CNY only, open or not"
    assert fresh.used_codes == {"A", "C"}, "codes of open refunds only, any currency"

    async with make_session_factory(engine)() as session:
        rows = (await session.exec(select(AuditEvent).where(AuditEvent.refund_id == "R-1"))).all()
        stored = await session.get(Refund, "R-1")
        assessments = (
            await session.exec(select(RiskAssessment).where(RiskAssessment.refund_id == "R-1"))
        ).all()
    assert sorted(row.kind for row in rows) == ["refund.received", "risk.assessed"]
    assert stored is not None and stored.signals == {"buyer_id": "b-1"}
    assert stored.deadline_at.tzinfo is not None
    assert [a.reasons for a in assessments] == [[{"code": "amount", "points": 40, "text": "large"}]]

    with pytest.raises(IntegrityError):
        await _store(engine, _refund("R-1", 1))
    async with make_session_factory(engine)() as session:
        kept = (await session.exec(select(AuditEvent).where(AuditEvent.refund_id == "R-1"))).all()
    assert len(kept) == 2, "the losing insert left nothing behind"


async def test_mark_started_once(engine: AsyncEngine) -> None:
    now = utcnow()
    async with make_session_factory(engine)() as session:
        session.add(
            Merchant(
                merchant_id=MERCHANT,
                name="Shop",
                timezone="UTC",
                language="en",
                created_at=now,
                updated_at=now,
            )
        )
        await session.commit()
    await _store(engine, _refund("R-9", 500_00, code="A"))
    started = audit_values(
        kind="workflow.started",
        actor="api",
        refund_id="R-9",
        merchant_id=MERCHANT,
        detail={"workflow_id": "refund-R-9"},
        dedup_key="refund-R-9:started",
    )

    async with engine.connect() as conn:
        await mark_started(conn, "R-9", started)
    async with make_session_factory(engine)() as session:
        first = await session.get(Refund, "R-9")
    assert first is not None and first.workflow_started_at is not None

    async with engine.connect() as conn:
        await mark_started(conn, "R-9", {**started, "at": utcnow()})
    async with make_session_factory(engine)() as session:
        again = await session.get(Refund, "R-9")
        rows = (
            await session.exec(
                select(AuditEvent).where(
                    AuditEvent.refund_id == "R-9", col(AuditEvent.kind) == "workflow.started"
                )
            )
        ).all()
    assert again is not None and again.workflow_started_at == first.workflow_started_at
    assert len(rows) == 1 and rows[0].detail == {"workflow_id": "refund-R-9"}


def test_every_intake_statement_is_compiled_once_and_cached() -> None:
    """A statement SQLAlchemy cannot cache is compiled again on every intake (a multi-row
    VALUES is one: it cost a fifth of the API's CPU before it was split)."""
    statements = {
        name: getattr(intake_rows, name)
        for name in ("_CONTEXT", "_INSERT_ALL", "_MARK_AND_AUDIT", "_MARK", "_STORED")
    }
    uncached = [name for name, st in statements.items() if st._generate_cache_key() is None]
    assert not uncached, f"not cacheable, compiled per intake: {uncached}"
