"""Intake's statements, in SQLAlchemy Core: the hot path of ``POST /v1/refunds``.

Each ORM unit of work or extra round trip costs the API milliseconds of CPU per intake
(docs/benchmarks.md, issue 16), so a new refund takes one transaction of two statements,
then one more statement after its watch started, all on one connection:

1. :func:`read_intake_context` — one statement: the merchant row, locked for the transaction
   (``FOR UPDATE`` on PostgreSQL, so concurrent intakes for one merchant pick different reply
   codes), whether the refund id is stored already, the merchant's last amounts in the refund's
   currency and the reply codes its open refunds use;
2. :func:`insert_rows` — the refund, its assessment and its audit rows: one INSERT on
   PostgreSQL (the first two as data-modifying CTEs), three on SQLite;
3. after the start, :func:`mark_started` — the ``workflow_started_at`` mark and its audit row:
   one autocommit statement on PostgreSQL, a short transaction on SQLite.

Statements are built once with bind parameters (building one costs more CPU than compiling
it from SQLAlchemy's cache). The reads are portable: ``aggregate_strings`` renders
``string_agg`` or ``group_concat``. tests/test_intake_rows.py runs each on both databases.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import Select, String, bindparam, cast, func, insert, select, update
from sqlalchemy.dialects import postgresql
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlmodel import SQLModel

from db.models import AuditEvent, Merchant, Refund, RiskAssessment, utcnow
from db.upsert import insert_ignore_statement
from domain.vocabulary import RefundState

__all__ = [
    "INTAKE_AUDITS",
    "RECENT_AMOUNTS",
    "IntakeContext",
    "insert_rows",
    "mark_started",
    "read_intake_context",
    "row_values",
]

RECENT_AMOUNTS = 50  # the merchant's typical amount is the median of its last 50 refunds
INTAKE_AUDITS = ("refund.received", "risk.assessed")  # the audit rows every new refund gets


@dataclass(frozen=True)
class IntakeContext:
    """What scoring and reply codes need, read under the merchant's lock."""

    stored_before: bool  # a refund with this id exists: the caller takes the repeated path
    merchant: Merchant | None  # None: unknown merchant (or stored_before without a merchant)
    recent_amounts: list[int]  # up to RECENT_AMOUNTS, minor units, in the refund's currency
    used_codes: set[str]  # reply codes of the merchant's open refunds


_refunds = Refund.__table__  # type: ignore[attr-defined]
_merchants = Merchant.__table__  # type: ignore[attr-defined]
_assessments = RiskAssessment.__table__  # type: ignore[attr-defined]
_audit = AuditEvent.__table__  # type: ignore[attr-defined]


def _strings(column: Any) -> Any:
    return func.aggregate_strings(cast(column, String), ",")


def _context_statement() -> Select[Any]:
    """Built once: a statement's construction costs more CPU than its cached compilation."""
    refund_id: Any = bindparam("refund_id")
    merchant_id: Any = bindparam("merchant_id")
    stored = select(func.count()).where(_refunds.c.refund_id == refund_id).scalar_subquery()
    recent = (
        select(_refunds.c.amount_minor.label("amount"))
        .where(_refunds.c.merchant_id == merchant_id, _refunds.c.currency == bindparam("currency"))
        .order_by(_refunds.c.created_at.desc())
        .limit(RECENT_AMOUNTS)
        .subquery()
    )
    codes = (
        select(_strings(_refunds.c.reply_code))
        .where(
            _refunds.c.merchant_id == merchant_id,
            _refunds.c.state == RefundState.OPEN.value,
            _refunds.c.reply_code.is_not(None),
        )
        .scalar_subquery()
    )
    return (
        select(
            *_merchants.columns,
            stored.label("stored"),
            select(_strings(recent.c.amount)).scalar_subquery().label("amounts"),
            codes.label("codes"),
        )
        .where(_merchants.c.merchant_id == merchant_id)
        .with_for_update(of=_merchants)
    )


def _binds(table: Any, prefix: str) -> dict[str, Any]:
    """A bind parameter per column (``prefix`` + name), but a key the database assigns."""
    return {
        column.name: bindparam(f"{prefix}{column.name}", type_=column.type)
        for column in table.columns
        if not ((column.primary_key and column.autoincrement is True) or column.name == "id")
    }


def _prefixed(prefix: str, values: dict[str, Any]) -> dict[str, Any]:
    return {f"{prefix}{name}": value for name, value in values.items()}


def _insert_all_statement() -> Any:
    """PostgreSQL: the refund, its assessment and its audit rows in one statement (all but the
    last audit row as data-modifying CTEs; foreign keys are checked at the statement's end).
    Each row has an INSERT of its own rather than one multi-row VALUES: SQLAlchemy does not
    cache the compiled form of a multi-row ``values([...])`` (its ``_generate_cache_key()`` is
    None, checked on 2.1.9), and compiling it on every intake was a fifth of the API's CPU
    (py-spy on bench.api_cpu, 2026-12-02). tests/test_intake_rows.py keeps it cacheable."""
    refund = insert(_refunds).values(_binds(_refunds, "r_")).cte("new_refund")
    assessment = insert(_assessments).values(_binds(_assessments, "a_")).cte("new_assessment")
    *first, last = [
        insert(_audit).values(_binds(_audit, f"e{index}_")) for index in range(len(INTAKE_AUDITS))
    ]
    ctes = [row.cte(f"new_audit_{index}") for index, row in enumerate(first)]
    return last.add_cte(refund, assessment, *ctes)


def _mark_and_audit_statement() -> Any:
    """PostgreSQL: the started mark as a data-modifying CTE of the audit row's INSERT … ON
    CONFLICT DO NOTHING (its dedup key): one statement, atomic without a transaction."""
    audit = postgresql.insert(_audit).values(_binds(_audit, "s_"))
    return audit.on_conflict_do_nothing(index_elements=["dedup_key"]).add_cte(_MARK.cte("marked"))


_MARK = (
    update(_refunds)
    .where(
        _refunds.c.refund_id == bindparam("mark_refund_id"),
        _refunds.c.workflow_started_at.is_(None),
    )
    .values(workflow_started_at=bindparam("started_at"))
)
_CONTEXT = _context_statement()
_INSERT_ALL = _insert_all_statement()
_MARK_AND_AUDIT = _mark_and_audit_statement()
_STORED = select(func.count()).where(_refunds.c.refund_id == bindparam("refund_id"))
_INSERT_REFUND = insert(_refunds)
_INSERT_ASSESSMENT = insert(_assessments)
_INSERT_AUDIT = insert(_audit)


async def read_intake_context(
    conn: AsyncConnection, refund_id: str, merchant_id: str, currency: str
) -> IntakeContext:
    """One round trip; the merchant row stays locked until the caller's transaction ends."""
    params = {"refund_id": refund_id, "merchant_id": merchant_id, "currency": currency}
    row = (await conn.execute(_CONTEXT, params)).mappings().first()
    if row is None:
        stored = (await conn.execute(_STORED, {"refund_id": refund_id})).scalar_one()
        return IntakeContext(bool(stored), None, [], set())
    merchant = Merchant(**{column.name: row[column.name] for column in _merchants.columns})
    amounts = [int(value) for value in (row["amounts"] or "").split(",") if value]
    codes = {code for code in (row["codes"] or "").split(",") if code}
    return IntakeContext(bool(row["stored"]), merchant, amounts, codes)


def row_values(row: SQLModel) -> dict[str, Any]:
    """A model's column values for an INSERT, leaving out a primary key the database assigns."""
    table = row.__table__  # type: ignore[attr-defined]
    return {
        column.name: getattr(row, column.name)
        for column in table.columns
        if not (column.primary_key and getattr(row, column.name) is None)
    }


async def insert_rows(
    conn: AsyncConnection,
    refund: Refund,
    assessment: RiskAssessment,
    audits: list[dict[str, Any]],
) -> None:
    """The refund, its first assessment and its audit rows (no dedup keys): one statement on
    PostgreSQL, three on SQLite. An IntegrityError means another request stored this refund
    id first."""
    if conn.dialect.name == "postgresql" and len(audits) == len(INTAKE_AUDITS):
        params = _prefixed("r_", row_values(refund)) | _prefixed("a_", row_values(assessment))
        for index, audit in enumerate(audits):
            params |= _prefixed(f"e{index}_", audit)
        await conn.execute(_INSERT_ALL, params)
        return
    await conn.execute(_INSERT_REFUND, row_values(refund))
    await conn.execute(_INSERT_ASSESSMENT, row_values(assessment))
    await conn.execute(_INSERT_AUDIT, audits)


async def mark_started(conn: AsyncConnection, refund_id: str, audit: dict[str, Any]) -> None:
    """Set ``workflow_started_at`` unless set, and add the ``workflow.started`` audit row (it
    carries a dedup key, so a second call adds nothing). ``conn`` has no transaction open.

    On PostgreSQL this is one statement in autocommit (see _mark_and_audit_statement): one
    round trip instead of four (BEGIN, UPDATE, INSERT, COMMIT). SQLite has no data-modifying
    CTEs: there it is a short transaction."""
    values = {"mark_refund_id": refund_id, "started_at": utcnow()}
    if conn.dialect.name == "postgresql":
        await conn.execution_options(isolation_level="AUTOCOMMIT")
        await conn.execute(_MARK_AND_AUDIT, values | _prefixed("s_", audit))
        await conn.commit()  # ends SQLAlchemy's own transaction; nothing is sent
        return
    async with conn.begin():
        await conn.execute(_MARK, values)
        await conn.execute(insert_ignore_statement("sqlite", AuditEvent, audit, ["dedup_key"]))
