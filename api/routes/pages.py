"""Support web pages: at-risk list (refreshing), refund timeline, losses report, merchant.

Server-rendered (Jinja2), no CDN: the stylesheet and the one small script are served from
``api/static``. Sign-in is a form taking a support token; the browser then holds an HttpOnly,
SameSite=Strict cookie (see support/web_session.py). The JSON API keeps using bearer tokens.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote, urlencode

from fastapi import APIRouter, Depends, Form, HTTPException, Request, status
from fastapi import Path as PathParam
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates

from api.auth import fingerprint
from api.deps import Svc
from api.routes.evidence import stream_evidence_file
from application.services import Services
from db.audit import record_support_view
from messages.i18n import gettext_for, pick_language
from support.at_risk import at_stake, load_at_risk
from support.formatting import money_text, thousands, time_left_text, utc_text
from support.loss_chart import CHANNEL_COLOURS, build_chart
from support.losses import load_loss_items, summarize
from support.merchants import load_merchant_view
from support.periods import PeriodError, parse_moment
from support.platform_webhooks import load_outbound_events
from support.refund_history import load_history
from support.web_session import COOKIE_NAME, SESSION_TTL, issue_session, matching_token
from support.web_session import session_is_valid as _valid

LANG_COOKIE = "rw_lang"

__all__ = ["PAGE_HEADERS", "router"]

_API = Path(__file__).resolve().parent.parent
templates = Jinja2Templates(directory=_API / "templates")
templates.env.filters.update(
    money=money_text, time_left=time_left_text, utc=utc_text, thousands=thousands, at_stake=at_stake
)
templates.env.globals["channel_colours"] = CHANNEL_COLOURS

_STATIC = {
    "support.css": "text/css",
    "support.js": "text/javascript",
}
PAGE_HEADERS = {
    "Cache-Control": "no-store",
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'self'; script-src 'self'; img-src 'self' data:; "
        "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
}

router = APIRouter(prefix="/support", include_in_schema=False)


def _tokens(services: Services) -> list[str]:
    return [token.get_secret_value() for token in services.settings.support_tokens]


def _signed_in(request: Request, services: Services) -> bool:
    return _valid(request.cookies.get(COOKIE_NAME), _tokens(services))


def _viewer(request: Request) -> str | None:
    """The sign-in session (a fingerprint of its cookie): one person's openings collapse."""
    cookie = request.cookies.get(COOKIE_NAME)
    return fingerprint(cookie) if cookie else None


def require_page_session(request: Request, services: Svc) -> None:
    """Pages without a valid cookie send the browser to the sign-in form, then back here."""
    if not _signed_in(request, services):
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        raise HTTPException(
            status.HTTP_303_SEE_OTHER,
            headers={"Location": "/support/login?" + urlencode({"next": target})},
        )


Session = Annotated[None, Depends(require_page_session)]


def page_language(request: Request) -> str:
    """The switch (``?lang=``, then the ``rw_lang`` cookie), else Accept-Language, else en."""
    explicit = request.query_params.get("lang") or request.cookies.get(LANG_COOKIE)
    return pick_language(explicit, None, request.headers.get("accept-language"))


def _render(
    request: Request, name: str, context: dict[str, Any], status_code: int = 200
) -> HTMLResponse:
    language = page_language(request)
    values = {"now": datetime.now(UTC), "lang": language, "_": gettext_for(language), **context}
    response = templates.TemplateResponse(request, name, values, status_code=status_code)
    response.headers.update(PAGE_HEADERS)
    if (chosen := request.query_params.get("lang")) in ("zh-CN", "en"):
        response.set_cookie(
            LANG_COOKIE, str(chosen), max_age=365 * 86400, path="/support", samesite="strict"
        )
    return response


def _safe_next(target: str | None) -> str:
    # Only our own pages: never an open redirect to another site.
    if target and target.startswith("/support") and not target.startswith("/support//"):
        return target
    return "/support"


# ---------------------------------------------------------------------------- sign-in
@router.get("/login", response_class=HTMLResponse)
async def login_form(request: Request, next: str | None = None) -> HTMLResponse:
    return _render(request, "login.html", {"next": _safe_next(next), "error": None})


@router.post("/login", response_class=HTMLResponse)
async def login(
    request: Request,
    services: Svc,
    token: Annotated[str, Form()] = "",
    next: Annotated[str, Form()] = "/support",
) -> Response:
    found = matching_token(token.strip(), _tokens(services))
    if found is None:
        _ = gettext_for(page_language(request))
        error = _(
            "That is not a support token. Ask an operator for one (REFUNDWATCH_SUPPORT_TOKENS)."
        )
        context = {"next": _safe_next(next), "error": error}
        return _render(request, "login.html", context, status.HTTP_401_UNAUTHORIZED)
    response = RedirectResponse(_safe_next(next), status.HTTP_303_SEE_OTHER)
    response.set_cookie(
        COOKIE_NAME,
        issue_session(found),
        max_age=int(SESSION_TTL.total_seconds()),
        path="/support",
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
    )
    return response


@router.post("/logout")
async def logout() -> Response:
    response = RedirectResponse("/support/login", status.HTTP_303_SEE_OTHER)
    response.delete_cookie(COOKIE_NAME, path="/support", httponly=True, samesite="strict")
    return response


@router.get("/static/{name}")
async def static_file(name: str) -> FileResponse:
    if name not in _STATIC:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no such file")
    return FileResponse(_API / "static" / name, media_type=_STATIC[name])


# ---------------------------------------------------------------------------- at risk
@router.get("", response_class=HTMLResponse)
async def at_risk_page(request: Request, services: Svc, _session: Session) -> HTMLResponse:
    async with services.sessions() as session:
        rows = await load_at_risk(session)
    return _render(request, "at_risk.html", {"rows": rows, "page": "at_risk"})


@router.get("/partials/at-risk", response_class=HTMLResponse)
async def at_risk_rows(request: Request, services: Svc) -> HTMLResponse:
    """The table alone, fetched by the page every few seconds; 401 once the session ended."""
    if not _signed_in(request, services):
        return HTMLResponse("signed out", status.HTTP_401_UNAUTHORIZED)
    async with services.sessions() as session:
        rows = await load_at_risk(session)
    return _render(request, "_at_risk_table.html", {"rows": rows})


# ---------------------------------------------------------------------------- one refund
@router.get("/refunds", response_class=HTMLResponse)
async def find_refund(_session: Session, id: str = "") -> Response:
    refund_id = id.strip()
    if not refund_id:
        return RedirectResponse("/support", status.HTTP_303_SEE_OTHER)
    return RedirectResponse(
        f"/support/refunds/{quote(refund_id, safe='')}", status.HTTP_303_SEE_OTHER
    )


@router.get("/refunds/{refund_id}", response_class=HTMLResponse)
async def refund_page(
    request: Request, refund_id: str, services: Svc, _session: Session
) -> HTMLResponse:
    async with services.sessions() as session:
        history = await load_history(session, services.temporal, refund_id, page_language(request))
        if history is None:
            context = {"what": "refund", "id": refund_id, "page": "refund"}
            return _render(request, "not_found.html", context, status.HTTP_404_NOT_FOUND)
        await record_support_view(
            session,
            actor="web",
            viewer=_viewer(request),
            view="refund.page",
            refund_id=refund_id,
            merchant_id=history.refund.merchant_id,
        )
        outbound = await load_outbound_events(session, refund_id) or []
    page: dict[str, Any] = {"history": history, "r": history.refund, "outbound": outbound}
    return _render(request, "refund.html", page)


@router.get("/evidence/files/{file_id}")
async def evidence_file(
    request: Request,
    file_id: Annotated[int, PathParam(ge=1, le=2**31 - 1)],
    services: Svc,
    _session: Session,
) -> Response:
    """A download link on the refund page: the same audited download as the API's."""
    return await stream_evidence_file(services, file_id, actor="web", viewer=_viewer(request))


# ---------------------------------------------------------------------------- merchant
@router.get("/merchants/{merchant_id}", response_class=HTMLResponse)
async def merchant_page(
    request: Request, merchant_id: str, services: Svc, _session: Session
) -> HTMLResponse:
    async with services.sessions() as session:
        view = await load_merchant_view(session, merchant_id)
        if view is None:
            context = {"what": "merchant", "id": merchant_id, "page": "merchant"}
            return _render(request, "not_found.html", context, status.HTTP_404_NOT_FOUND)
        await record_support_view(
            session,
            actor="web",
            viewer=_viewer(request),
            view="merchant.page",
            merchant_id=merchant_id,
        )
    return _render(request, "merchant.html", {"m": view})


# ---------------------------------------------------------------------------- losses
@router.get("/losses", response_class=HTMLResponse)
async def losses_page(
    request: Request,
    services: Svc,
    _session: Session,
    since: str = "7d",
    until: str = "now",
    currency: str | None = None,
) -> HTMLResponse:
    errors: list[str] = []
    _ = gettext_for(page_language(request))
    now = datetime.now(UTC)
    try:
        start = parse_moment(since, now=now)
    except PeriodError as err:
        errors.append(_("From: %(reason)s") % {"reason": err})
        start = parse_moment("7d", now=now)
    try:
        end = parse_moment(until, now=now)
    except PeriodError as err:
        errors.append(_("To: %(reason)s") % {"reason": err})
        end = now
    if start >= end:
        errors.append(_("From must be before To; showing the last 7 days."))
        start, end = parse_moment("7d", now=now), now
    async with services.sessions() as session:
        items = await load_loss_items(session, since=start, until=end, now=now)
    summary = summarize(items, since=start, until=end, generated_at=now)
    currencies = sorted({item.currency for item in items})
    chart = build_chart(items, since=start, until=end, currency=currency or None)
    context = {
        "page": "losses",
        "summary": summary,
        "chart": chart,
        "currencies": currencies,
        "form": {"since": since, "until": until, "currency": chart.currency},
        "errors": errors,
    }
    return _render(request, "losses.html", context)
