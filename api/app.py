"""The FastAPI application: routers, start-up, health."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta

import swagger_ui_bundle
from fastapi import FastAPI, Request, status
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from sqlalchemy import text

from api.auth import ReaderCaller
from api.body_limits import BodyLimits
from api.contract import document_routes
from api.deps import Svc
from api.errors import install_error_handlers
from api.refuse_nul import RefuseNul
from api.routes import (
    evidence,
    merchant_app,
    merchant_link,
    merchants,
    pages,
    refunds,
    support,
    twilio,
    voice,
)
from application.services import Services, build_services
from application.watch_client import WatchUnreachable
from config.settings import Settings
from db.outage import RETRY_AFTER_S
from observability import DatabaseMetrics, RequestMetrics, metrics_response

__all__ = ["create_app"]


def create_app(settings: Settings, services: Services | None = None) -> FastAPI:
    """Build the app. Pass ``services`` to share clients (tests); otherwise built at start-up."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        owned = services is None
        app.state.services = services or await build_services(settings)
        try:
            yield
        finally:
            if owned:
                await app.state.services.close()

    app = FastAPI(
        title="refundwatch",
        version="0.1.0",
        description="Refund-timeout alerts and escalation. See docs/api.md.",
        lifespan=lifespan,
        docs_url=None,  # served below from packaged assets: no CDN needed
        redoc_url=None,
    )
    app.mount(
        "/static/swagger", StaticFiles(directory=swagger_ui_bundle.swagger_ui_path), name="swagger"
    )

    @app.get("/docs", include_in_schema=False)
    async def docs() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url="/openapi.json",
            title="refundwatch API",
            swagger_js_url="/static/swagger/swagger-ui-bundle.js",
            swagger_css_url="/static/swagger/swagger-ui.css",
            swagger_favicon_url="/static/swagger/favicon-32x32.png",
        )

    for module in (merchants, refunds, support, merchant_app, evidence, twilio, voice):
        app.include_router(module.router)
    app.include_router(pages.router)  # support web pages under /support
    app.include_router(merchant_link.router)  # the merchant page behind SMS links, /m/<token>

    @app.exception_handler(WatchUnreachable)
    async def watch_unreachable(_request: Request, err: WatchUnreachable) -> JSONResponse:
        """Recorded, but Temporal did not take the message: the same request again is safe."""
        return JSONResponse(
            {"detail": str(err)},
            status_code=status.HTTP_503_SERVICE_UNAVAILABLE,
            headers={"Retry-After": "5"},
        )

    install_error_handlers(app)
    app.add_middleware(
        BodyLimits,
        max_files=settings.evidence_max_files,
        max_file_bytes=settings.evidence_max_file_bytes,
    )
    app.add_middleware(RefuseNul)
    app.add_middleware(RequestMetrics)
    database_metrics = DatabaseMetrics(overdue_grace=timedelta(seconds=settings.overdue_grace_s))

    @app.get("/metrics", include_in_schema=False)
    async def metrics(svc: Svc, _caller: ReaderCaller) -> Response:
        """Prometheus scrape (support or platform token): see docs/operations.md, Metrics."""
        return await metrics_response(database_metrics, svc.sessions)

    @app.get("/healthz", tags=["health"])
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz", tags=["health"])
    async def readyz(svc: Svc) -> JSONResponse:
        checks: dict[str, str] = {}
        try:
            async with svc.engine.connect() as connection:
                await connection.execute(text("SELECT 1"))
            checks["database"] = "ok"
        except Exception as exc:  # readiness reports, it does not raise
            checks["database"] = f"error: {type(exc).__name__}"
        try:
            await svc.temporal.service_client.check_health()
            checks["temporal"] = "ok"
        except Exception as exc:
            checks["temporal"] = f"error: {type(exc).__name__}"
        ready = all(value == "ok" for value in checks.values())
        if ready:
            return JSONResponse(checks)
        return JSONResponse(checks, status_code=503, headers={"Retry-After": str(RETRY_AFTER_S)})

    document_routes(app)
    return app
