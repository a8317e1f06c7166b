"""What both parts of the pacing benchmark (bench/pacing_priority.py) share: a migrated scratch
database of their own, the grants the Pacer recorded in it, and saving results (JSON, and a PNG
when matplotlib is installed) to bench/results/.
"""

from __future__ import annotations

import asyncio
import json
import os
import tempfile
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

import asyncpg
from rich.console import Console
from sqlmodel import col, select

from db.engine import make_engine, make_session_factory
from db.migrate import upgrade
from db.models import SendTicket

__all__ = ["console", "granted_tickets", "result_name", "save_result", "scratch_database"]

RESULTS = Path(__file__).resolve().parent / "results"
ADMIN_URL = os.environ.get("TEST_DATABASE_ADMIN_URL", "postgresql://postgres@127.0.0.1:5432/test")
console = Console(highlight=False, width=120)


@asynccontextmanager
async def scratch_database(kind: str) -> AsyncIterator[str]:
    """A migrated database of its own, dropped afterwards."""
    if kind == "sqlite":
        with tempfile.TemporaryDirectory() as folder:
            url = f"sqlite+aiosqlite:///{folder}/bench.db"
            await asyncio.to_thread(upgrade, url)
            yield url
        return
    name = f"rw_bench_{uuid.uuid4().hex[:8]}"
    try:
        admin = await asyncpg.connect(ADMIN_URL)
    except (OSError, asyncpg.PostgresError) as err:
        raise SystemExit(
            f"cannot reach PostgreSQL at {ADMIN_URL} ({err}); start it, set "
            "TEST_DATABASE_ADMIN_URL, or run with --db sqlite"
        ) from err
    await admin.execute(f'CREATE DATABASE "{name}"')
    await admin.close()
    url = ADMIN_URL.rsplit("/", 1)[0].replace("postgresql://", "postgresql+asyncpg://") + f"/{name}"
    try:
        await asyncio.to_thread(upgrade, url)
        yield url
    finally:
        admin = await asyncpg.connect(ADMIN_URL)
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


async def granted_tickets(url: str, channel: str) -> list[SendTicket]:
    engine = make_engine(url)
    try:
        async with make_session_factory(engine)() as session:
            statement = select(SendTicket).where(
                SendTicket.channel == channel,
                col(SendTicket.granted_at).is_not(None),
            )
            tickets = list((await session.exec(statement)).all())
    finally:
        await engine.dispose()
    return sorted(tickets, key=lambda t: (t.granted_at, t.idempotency_key))


def result_name(stem: str, db: str) -> str:
    """``stem`` for PostgreSQL, ``stem_sqlite`` for a run with ``--db sqlite``."""
    return stem if db == "postgres" else f"{stem}_{db}"


def save_result(name: str, result: dict[str, Any], plot: Callable[[Path], None]) -> None:
    """bench/results/<name>.json, stamped with the time, and <name>.png drawn by ``plot``."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    result["generated_at"] = datetime.now().astimezone().isoformat(timespec="seconds")
    data = RESULTS / f"{name}.json"
    data.write_text(json.dumps(result, indent=1, default=str) + "\n", encoding="utf-8")
    with _png_or_note(name) as path:
        if path is not None:
            plot(path)
    console.print(f"saved {data.relative_to(RESULTS.parent.parent)}")


@contextmanager
def _png_or_note(name: str) -> Iterator[Path | None]:
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        console.print("(no PNG: matplotlib is missing; pip install -e '.[bench]')")
        yield None
        return
    path = RESULTS / f"{name}.png"
    yield path
    console.print(f"saved {path.relative_to(RESULTS.parent.parent)}")
