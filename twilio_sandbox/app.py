"""The sandbox as an ASGI app: Twilio's REST API, the control API, and their lifespan."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.exception_handlers import http_exception_handler
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from twilio_sandbox import control, rest
from twilio_sandbox.config import SandboxConfig
from twilio_sandbox.errors import TwilioApiError, error_body
from twilio_sandbox.resources import API_VERSION
from twilio_sandbox.sandbox import Sandbox

__all__ = ["create_app"]

_HTTP_CODES = {404: 20404, 405: 20004}


async def _twilio_error(_request: Request, exc: Exception) -> Response:
    assert isinstance(exc, TwilioApiError)
    headers = {"WWW-Authenticate": 'Basic realm="Twilio API"'} if exc.status == 401 else None
    return JSONResponse(exc.body(), status_code=exc.status, headers=headers)


async def _http_error(request: Request, exc: Exception) -> Response:
    """Unknown paths and methods under the REST API answer in Twilio's shape too."""
    assert isinstance(exc, StarletteHTTPException)
    if request.url.path.startswith(f"/{API_VERSION}/") and exc.status_code in _HTTP_CODES:
        message = (
            f"The requested resource {request.url.path} was not found"
            if exc.status_code == 404
            else "Method not allowed"
        )
        body = error_body(exc.status_code, _HTTP_CODES[exc.status_code], message)
        return JSONResponse(body, status_code=exc.status_code)
    return await http_exception_handler(request, exc)


def create_app(config: SandboxConfig) -> FastAPI:
    """A Twilio stand-in; its background work runs while the app's lifespan is open."""
    sandbox = Sandbox(config)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        async with sandbox.running():
            yield

    app = FastAPI(
        title="Twilio sandbox",
        description="A local Twilio-compatible server with scripted phone numbers.",
        lifespan=lifespan,
    )
    app.state.sandbox = sandbox
    app.include_router(rest.router)
    app.include_router(control.router)
    app.add_exception_handler(TwilioApiError, _twilio_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    return app
