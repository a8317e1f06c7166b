"""How the API words its refusals, in one place: request validation, bodies too large, a
multipart part header too long, and the database being away.

* A validation error names each field and the reason, as FastAPI does, but never echoes a
  large input back: a 10 MB body refused for its shape is answered in a few hundred bytes,
  not with the body repeated in every error item. An ``input`` is kept only when it is a
  short scalar (``MAX_ECHO`` characters); at most ``MAX_ERRORS`` items are listed.
* A body over its route's cap (api/body_limits.py) is a 413 that says the cap.
* A JSON body whose bytes are not UTF-8 is a 422 like any other body that is not JSON (FastAPI
  says 400 "There was an error parsing the body").
* A file name longer than a multipart part header may be (python-multipart refuses a header
  line over 4 KiB, before our own checks can see the name) is a 422 naming the file name,
  not a generic 400.
* The database away (db/outage.py) is a 503 with ``Retry-After``, like Temporal away
  (application/watch_client.py); a Twilio voice or SMS webhook gets TwiML instead
  (api/outage_twiml.py), so the caller hears an apology rather than silence.
"""

from __future__ import annotations

from typing import Any

import structlog
from fastapi import FastAPI, Request, status
from fastapi.encoders import jsonable_encoder
from fastapi.exception_handlers import http_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from python_multipart.exceptions import MultipartParseError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.middleware.body_limit import MAX_BODY_SIZE_SCOPE_KEY

from api.body_limits import too_large_detail
from api.outage_twiml import outage_twiml
from db.outage import OUTAGE_ERRORS, RETRY_AFTER_S, database_unavailable

__all__ = ["MAX_ECHO", "MAX_ERRORS", "install_error_handlers", "outage_response"]

log = structlog.get_logger(__name__)

MAX_ECHO = 100
MAX_ERRORS = 20
_SCALARS = (str, int, float, bool, type(None))


def _item(error: dict[str, Any]) -> dict[str, Any]:
    item: dict[str, Any] = {
        "loc": list(error.get("loc", ())),
        "msg": str(error.get("msg", ""))[:500],
        "type": str(error.get("type", "value_error")),
    }
    value = error.get("input")
    if isinstance(value, _SCALARS) and len(str(value)) <= MAX_ECHO:
        item["input"] = value
    context = error.get("ctx")
    if isinstance(context, dict):
        item["ctx"] = {
            key: str(val)[:MAX_ECHO] if not isinstance(val, int | float | bool) else val
            for key, val in context.items()
        }
    return item


def validation_body(errors: list[dict[str, Any]]) -> dict[str, Any]:
    body: dict[str, Any] = {"detail": [_item(e) for e in errors[:MAX_ERRORS]]}
    if len(errors) > MAX_ERRORS:
        body["more_errors"] = len(errors) - MAX_ERRORS
    return body


def _header_too_long(error: BaseException) -> bool:
    link: BaseException | None = error
    for _ in range(5):
        if link is None:
            return False
        if isinstance(link, MultipartParseError) and "header size" in str(link):
            return True
        link = link.__cause__ or link.__context__
    return False


def outage_response(request: Request) -> Response:
    """The database is away: TwiML for Twilio's voice and SMS webhooks, 503 for the rest."""
    twiml = outage_twiml(request)
    if twiml is not None:
        return twiml
    return JSONResponse(
        {
            "detail": "the database is unavailable for a moment; nothing was lost: send the "
            f"same request again in {RETRY_AFTER_S} seconds"
        },
        status_code=status.HTTP_503_SERVICE_UNAVAILABLE,
        headers={"Retry-After": str(RETRY_AFTER_S)},
    )


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(RequestValidationError)
    async def invalid(_request: Request, err: RequestValidationError) -> JSONResponse:
        errors = [dict(e) for e in err.errors()]
        return JSONResponse(
            jsonable_encoder(validation_body(errors)),
            status_code=status.HTTP_422_UNPROCESSABLE_CONTENT,
        )

    @app.exception_handler(StarletteHTTPException)
    async def refused(request: Request, err: StarletteHTTPException) -> Response:
        too_large = err.status_code == status.HTTP_413_CONTENT_TOO_LARGE
        if too_large and err.detail == "Content Too Large":
            cap = request.scope.get(MAX_BODY_SIZE_SCOPE_KEY)
            detail = too_large_detail(cap)
            return JSONResponse({"detail": detail}, status_code=err.status_code)
        if err.status_code == status.HTTP_400_BAD_REQUEST and _header_too_long(err):
            problem = {
                "loc": ["body", "files", "filename"],
                "msg": "a file name is too long: each part's header, which carries the file "
                "name, must stay under 4 KiB (names over 200 characters are shortened)",
                "type": "value_error",
            }
            return JSONResponse(
                {"detail": [problem]}, status_code=status.HTTP_422_UNPROCESSABLE_CONTENT
            )
        if err.status_code == status.HTTP_400_BAD_REQUEST and isinstance(
            err.__cause__, UnicodeDecodeError
        ):
            # Bytes that are not UTF-8 are no JSON: the same 422 as any other body that is not.
            problem = {"loc": ["body"], "msg": "the body is not UTF-8 JSON", "type": "json_invalid"}
            return JSONResponse(
                {"detail": [problem]}, status_code=status.HTTP_422_UNPROCESSABLE_CONTENT
            )
        return await http_exception_handler(request, err)

    async def database_away(request: Request, err: Exception) -> Response:
        if not database_unavailable(err):
            raise err
        log.warning("database_unavailable", path=request.url.path, error=type(err).__name__)
        return outage_response(request)

    for error_type in OUTAGE_ERRORS:
        app.add_exception_handler(error_type, database_away)
