"""What every support command shares: settings, running a read against the database, sessions,
the console, errors that say what to do next, JSON output and the cells several tables show.

Heavy imports (SQLAlchemy, the database layer) wait until a command runs, so that
`refundwatch --help` stays fast.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Coroutine, Sequence
from contextlib import asynccontextmanager
from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer
from rich.console import Console
from rich.text import Text

from config.settings import Settings, SettingsError, load_settings
from support.formatting import time_left_text
from support.periods import PeriodError, parse_moment

if TYPE_CHECKING:
    from pydantic import BaseModel

    from db.engine import SessionFactory

__all__ = [
    "JsonFlag",
    "console",
    "echo_json_list",
    "fail",
    "moment",
    "risk_text",
    "run",
    "sessions",
    "settings",
    "time_left",
    "unknown_refund",
]

JsonFlag = Annotated[bool, typer.Option("--json", help="Print JSON instead of tables")]
T = TypeVar("T")


def fail(message: str, hint: str, code: int = 1) -> typer.Exit:
    """The error in red on stderr, then what to do about it; raise what it returns."""
    typer.secho(message, fg=typer.colors.RED, err=True)
    typer.echo(hint, err=True)
    return typer.Exit(code)


def unknown_refund(refund_id: str) -> typer.Exit:
    return fail(
        f"refund {refund_id} not found",
        "Check the id (the platform's refund_id, e.g. R-1001); "
        "`refundwatch refunds at-risk` lists the open ones.",
    )


def echo_json_list(items: Sequence[BaseModel]) -> None:
    typer.echo("[" + ",".join(item.model_dump_json() for item in items) + "]")


def settings() -> Settings:
    try:
        return load_settings()
    except SettingsError as err:
        raise fail(str(err), "Set the variables above (see README, Configuration).", 2) from None


def run(settings: Settings, job: Callable[[Settings], Coroutine[Any, Any, T]]) -> T:
    """Run one read; a database that cannot be reached is an error with a hint, exit code 2."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import DBAPIError, OperationalError

    try:
        return asyncio.run(job(settings))
    except (OSError, OperationalError, DBAPIError) as err:
        where = make_url(settings.database_url).render_as_string(hide_password=True)
        raise fail(
            f"cannot read the database at {where}: {type(err).__name__}",
            "Check DATABASE_URL and that the database is running and migrated "
            "(`refundwatch db upgrade`).",
            2,
        ) from None


@asynccontextmanager
async def sessions(settings: Settings) -> AsyncIterator[SessionFactory]:
    from db.engine import make_engine, make_session_factory

    engine = make_engine(settings.database_url, pool_size=2)
    try:
        yield make_session_factory(engine)
    finally:
        await engine.dispose()


def moment(text: str, option: str) -> datetime:
    """A date, an ISO time or an age (7d) given to ``option``; a bad one is a usage error."""
    try:
        return parse_moment(text)
    except PeriodError as err:
        raise typer.BadParameter(str(err), param_hint=option) from None


def console() -> Console:
    return Console(highlight=False, soft_wrap=False)


def time_left(seconds: int) -> Text:
    if seconds < 600:
        style = "bold red"
    elif seconds < 3600:
        style = "yellow"
    else:
        style = ""
    return Text(time_left_text(seconds), style=style)


def risk_text(score: int | None, level: str | None) -> str:
    return f"{score} {level}" if score is not None else "—"
