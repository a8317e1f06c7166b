"""Refuse a NUL character in the path or the query before any route sees it.

PostgreSQL text cannot hold NUL, so a NUL that reached a query would come back as a 500. The
request bodies refuse it in their schemas (application/schemas.py); this is the same rule for
the URL, in one place for every route: 422 naming the parameter, as FastAPI's own errors do.
Twilio's webhooks are left to their signature check first (an unsigned request is a 403 and
nothing more); once signed, their own parameters refuse NUL.
"""

from __future__ import annotations

from urllib.parse import parse_qsl

from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send

__all__ = ["RefuseNul"]

_MESSAGE = "must not contain NUL characters"
_WEBHOOKS = "/twilio/"


class RefuseNul:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and not scope.get("path", "").startswith(_WEBHOOKS):
            problem = _nul_in(scope)
            if problem is not None:
                body = {"detail": [{"loc": problem, "msg": _MESSAGE, "type": "value_error"}]}
                await JSONResponse(body, status_code=422)(scope, receive, send)
                return
        await self.app(scope, receive, send)


def _nul_in(scope: Scope) -> list[str] | None:
    if "\x00" in scope.get("path", ""):
        return ["path"]
    query = scope.get("query_string", b"").decode("latin-1")
    for name, value in parse_qsl(query, keep_blank_values=True):
        if "\x00" in name or "\x00" in value:
            return ["query", name.replace("\x00", "")]
    return None
