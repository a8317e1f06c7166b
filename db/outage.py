"""Whether an error means the database is away (restarting, unreachable, refusing connections)
rather than a fault of the request or a bug: the API answers the first with 503 and
``Retry-After``, as it does while Temporal is away, and lets the others be what they are.

Read from the error and everything it was raised from, as SQLAlchemy and the driver chain them:
a connection SQLAlchemy found dead (``connection_invalidated``), a connection error of the
operating system (refused, reset, timed out), SQLAlchemy's pool timing out, or a PostgreSQL
SQLSTATE of class 08 (connection exception), 57P (operator intervention: shutting down, crash
shutdown, cannot connect now) or 53300 (too many connections) — the codes PostgreSQL's
"Appendix A. PostgreSQL Error Codes" lists, carried as ``sqlstate`` by asyncpg and psycopg.
"""

from __future__ import annotations

import asyncpg
from sqlalchemy.exc import DBAPIError, SQLAlchemyError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError

__all__ = ["OUTAGE_ERRORS", "RETRY_AFTER_S", "database_unavailable"]

# What may carry an outage: the API registers its handler for these and re-raises the rest.
OUTAGE_ERRORS: tuple[type[Exception], ...] = (
    SQLAlchemyError,
    OSError,  # ConnectionRefusedError, ConnectionResetError, TimeoutError
    asyncpg.PostgresError,
    asyncpg.InterfaceError,
)
# A PostgreSQL restart takes seconds; a client asked to come back after this many is not
# turned away again by the same restart, and not kept waiting long after it.
RETRY_AFTER_S = 5

_SQLSTATE_PREFIXES = ("08", "57P")
_SQLSTATES = frozenset({"53300"})


def _chain(error: BaseException) -> list[BaseException]:
    seen: list[BaseException] = []
    pending: list[BaseException | None] = [error]
    while pending:
        current = pending.pop()
        if current is None or any(current is s for s in seen) or len(seen) > 20:
            continue
        seen.append(current)
        pending += [current.__cause__, current.__context__, getattr(current, "orig", None)]
    return seen


def _is_outage(error: BaseException) -> bool:
    if isinstance(error, DBAPIError) and error.connection_invalidated:
        return True
    if isinstance(error, PoolTimeoutError | ConnectionError | TimeoutError):
        return True
    if isinstance(error, asyncpg.InterfaceError) and "connection" in str(error).lower():
        return True  # "connection is closed", "cannot ... connection was closed in the middle"
    sqlstate = getattr(error, "sqlstate", None) or getattr(error, "pgcode", None)
    if isinstance(sqlstate, str):
        return sqlstate.startswith(_SQLSTATE_PREFIXES) or sqlstate in _SQLSTATES
    return False


def database_unavailable(error: BaseException) -> bool:
    """True when ``error`` (or what it was raised from) says the database cannot be reached
    now; a retry after a few seconds may succeed."""
    return any(_is_outage(link) for link in _chain(error))
