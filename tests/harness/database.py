"""Scratch PostgreSQL databases: one for the test session, one for each test that must not share.

``TEST_DATABASE_ADMIN_URL`` names a database to connect to for CREATE and DROP DATABASE (it
stays untouched); each scratch database is migrated to head and dropped afterwards, however
the block ends, with any connection still open to it.
"""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import asyncpg

from db.migrate import upgrade

__all__ = ["ADMIN_URL", "fresh_database"]

ADMIN_URL = os.environ.get("TEST_DATABASE_ADMIN_URL", "postgresql://postgres@127.0.0.1:5432/test")


@asynccontextmanager
async def fresh_database(prefix: str = "rw_test", admin_url: str = ADMIN_URL) -> AsyncIterator[str]:
    """A new database ``<prefix>_<hex>`` at the latest migration; yields its SQLAlchemy URL."""
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    await _admin(admin_url, f'CREATE DATABASE "{name}"')
    try:
        base = admin_url.rsplit("/", 1)[0].replace("postgresql://", "postgresql+asyncpg://")
        url = f"{base}/{name}"
        await asyncio.to_thread(upgrade, url)
        yield url
    finally:
        # FORCE: a child process killed mid-test, or a pool not yet disposed, may hold a
        # connection; the database goes all the same.
        await _admin(admin_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


async def _admin(admin_url: str, statement: str) -> None:
    connection = await asyncpg.connect(admin_url)
    try:
        await connection.execute(statement)
    finally:
        await connection.close()
