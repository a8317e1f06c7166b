"""INSERT … ON CONFLICT DO NOTHING for both PostgreSQL and SQLite: the idempotency primitive."""

from __future__ import annotations

from typing import Any

from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import SQLModel
from sqlmodel.ext.asyncio.session import AsyncSession

__all__ = ["insert_ignore", "insert_ignore_statement"]


def insert_ignore_statement(
    dialect: str, model: type[SQLModel], values: dict[str, Any], conflict: list[str]
) -> Any:
    """The INSERT … ON CONFLICT (``conflict``) DO NOTHING statement for ``dialect``."""
    table = model.__table__  # type: ignore[attr-defined]
    module: Any = sqlite if dialect == "sqlite" else postgresql
    return module.insert(table).values(**values).on_conflict_do_nothing(index_elements=conflict)


async def insert_ignore(
    session: AsyncSession, model: type[SQLModel], values: dict[str, Any], conflict: list[str]
) -> bool:
    """Insert one row unless ``conflict`` columns already match one. True if inserted."""
    dialect = session.bind.dialect.name if session.bind else "postgresql"
    result = await session.exec(insert_ignore_statement(dialect, model, values, conflict))
    return bool(result.rowcount)
