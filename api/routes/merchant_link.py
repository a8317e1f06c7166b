"""The merchant page behind an SMS's action link: ``/m/<token>``, phone first.

GET shows (and audits the opening) but never acts: link previews and carrier scanners fetch
links. Actions are POSTs carrying the page's form token and go through the one entry point
for answers (application/answers.py, channel ``link``) and for evidence
(application/evidence.py), with the same rules and audit as keypad and SMS. Server-rendered,
no CDN, the support pages' strict CSP; one small same-origin script ticks the countdowns and
polls ``/m/<token>/state`` to reload the page when the refund changes.
"""

from __future__ import annotations

import re
import secrets
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from fastapi import APIRouter, File, Form, HTTPException, Request, UploadFile, status
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates

from api.answer_replies import http_refusal
from api.deps import Svc
from api.link_guard import LinkGuard
from api.routes.evidence import checked_files, evidence_limits
from api.routes.pages import PAGE_HEADERS
from application.answers import AnswerIn, AnswerStatus, take_answer
from application.evidence import take_evidence
from application.merchant_links import (
    LinkProblem,
    LinkRefusedError,
    OpenedLink,
    links_key,
    open_link,
)
from application.merchant_page import load_cards, version_of
from application.watch_client import WatchUnreachable
from db.models import utcnow
from domain.action_links import form_token, form_token_ok
from domain.vocabulary import Action, Channel
from evidence.submissions import (
    EvidenceConflictError,
    EvidenceNotAcceptedError,
    EvidenceRequest,
    NotYourRefundError,
    RefundNotFoundError,
)
from evidence.validation import (
    CATEGORIES,
    REQUEST_ID_PATTERN,
    EvidenceRejectedError,
    FileTooLargeError,
    UnsupportedFileTypeError,
    check_note,
)
from messages.i18n import N_, gettext_for, pick_language
from messages.texts import confirmation

__all__ = ["GUARD", "router"]

_API = Path(__file__).resolve().parent.parent
templates = Jinja2Templates(directory=_API / "templates")
router = APIRouter(prefix="/m", include_in_schema=False)
GUARD = LinkGuard()  # per API process (api/link_guard.py)
LANG_COOKIE = "rw_lang"
_STATIC = {"merchant.css": "text/css", "merchant.js": "text/javascript"}
_ACTIONS = {Action.HANDLE_NOW, Action.DISPUTE, Action.REJECT}
_REQUEST_ID = re.compile(REQUEST_ID_PATTERN)
_CATEGORY_LABELS = {
    "empty_package": N_("The package arrived empty"),
    "swapped_item": N_("A different item came back"),
    "not_returned": N_("Nothing was returned"),
    "logistics_mismatch": N_("Tracking or weight does not match"),
    "other": N_("Something else"),
}
_REFUSED = {
    LinkProblem.MALFORMED: (
        N_("This link does not work"),
        N_("Open the whole link from our text message. Links cannot be changed or guessed."),
    ),
    LinkProblem.UNKNOWN: (
        N_("This link does not work"),
        N_("Open the whole link from our text message. Links cannot be changed or guessed."),
    ),
    LinkProblem.EXPIRED: (
        N_("This link has expired"),
        N_("The refunds it was sent for are closed. Nothing more is needed from you."),
    ),
    LinkProblem.REVOKED: (
        N_("This link was switched off"),
        N_("Use the link in our latest text message."),
    ),
    LinkProblem.NOT_YOURS: (
        N_("Not a refund of this link"),
        N_("This link does not list that refund."),
    ),
}


def _client(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def _agent(request: Request) -> str:
    return request.headers.get("user-agent", "")[:80]


def _language(request: Request, setting: str | None = None) -> str:
    explicit = request.query_params.get("lang") or request.cookies.get(LANG_COOKIE)
    return pick_language(explicit, setting, request.headers.get("accept-language"))


def _page(
    request: Request, name: str, context: dict[str, Any], language: str, code: int = 200
) -> HTMLResponse:
    context = {"lang": language, "_": gettext_for(language), **context}
    response = templates.TemplateResponse(request, name, context, status_code=code)
    response.headers.update(PAGE_HEADERS)
    response.headers["Referrer-Policy"] = "no-referrer"  # the token is in the URL
    if (chosen := request.query_params.get("lang")) and chosen in ("zh-CN", "en"):
        response.set_cookie(LANG_COOKIE, chosen, max_age=365 * 86400, path="/m", samesite="lax")
    return response


def _refused(
    request: Request, problem: LinkProblem, code: int, language: str, back: str | None = None
) -> HTMLResponse:
    _ = gettext_for(language)
    title, text = _REFUSED[problem]
    context = {"title": _(title), "text": _(text), "back": back}
    return _page(request, "merchant_link_refused.html", context, language, code)


def _slowed(request: Request) -> HTMLResponse | None:
    wait = GUARD.retry_after(_client(request))
    if wait is None:
        return None
    language = _language(request)
    _ = gettext_for(language)
    context = {"title": _("Too many tries"), "text": _("Wait a few minutes, then try again.")}
    response = _page(request, "merchant_link_refused.html", context, language, 429)
    response.headers["Retry-After"] = str(wait)
    return response


async def _open(
    request: Request, services: Svc, token: str, **options: Any
) -> OpenedLink | HTMLResponse:
    try:
        return await open_link(services, token, client=_agent(request), **options)
    except LinkRefusedError as err:
        GUARD.refused(_client(request))
        return _refused(request, err.problem, err.status_code, _language(request))


@router.get("/static/{name}")
async def static_file(name: str) -> FileResponse:
    if name not in _STATIC:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no such file")
    return FileResponse(_API / "static" / name, media_type=_STATIC[name])


async def _render(
    request: Request,
    services: Svc,
    token: str,
    opened: OpenedLink,
    notice: dict[str, str] | None = None,
    code: int = 200,
) -> HTMLResponse:
    language = _language(request, opened.merchant.language)
    _ = gettext_for(language)
    async with services.sessions() as session:
        cards = await load_cards(session, opened.refunds, language, actionable=opened.actionable)
    key = links_key(services)
    ids = [c.refund_id for c in cards]
    context = {
        "cards": cards,
        "merchant_name": opened.merchant.name,
        "actionable": opened.actionable,
        "base": f"/m/{token}",
        "state_url": f"/m/{token}/state",
        "version": version_of(opened.refunds, cards),
        "form_tokens": {rid: form_token(key, opened.link.id_hash, rid) for rid in ids},
        "request_ids": {rid: secrets.token_hex(8) for rid in ids},
        "categories": [(value, _(_CATEGORY_LABELS[value])) for value in CATEGORIES],
        "max_mb": services.settings.evidence_max_file_bytes // (1024 * 1024),
        "notice": notice,
        "tz": _zone(opened.merchant.timezone),  # times in the merchant's own clock
    }
    return _page(request, "merchant_link.html", context, language, code)


def _zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


def _done_notice(request: Request, language: str) -> dict[str, str] | None:
    _ = gettext_for(language)
    done = request.query_params.get("done")
    if done in _ACTIONS:
        return {"kind": "ok", "text": confirmation(done, language)}
    if done == "evidence":
        return {"kind": "ok", "text": _("Evidence received. The platform has been told.")}
    if done == "kept":
        return {"kind": "info", "text": _("Received. It will be recorded in a moment.")}
    return None


@router.get("/{token}", response_class=HTMLResponse)
async def merchant_page(request: Request, token: str, services: Svc) -> HTMLResponse:
    """Shows the link's refunds; records the opening (link.opened); never acts."""
    if (slowed := _slowed(request)) is not None:
        return slowed
    opened = await _open(request, services, token)
    if isinstance(opened, HTMLResponse):
        return opened
    notice = _done_notice(request, _language(request, opened.merchant.language))
    return await _render(request, services, token, opened, notice)


@router.get("/{token}/state")
async def page_state(request: Request, token: str, services: Svc) -> JSONResponse:
    """What the open page polls: a version that changes with what it shows. Not audited."""
    if GUARD.retry_after(_client(request)) is not None:
        return JSONResponse({"detail": "too many tries"}, status.HTTP_429_TOO_MANY_REQUESTS)
    try:
        opened = await open_link(services, token, client=_agent(request), audit_as=None)
    except LinkRefusedError as err:
        GUARD.refused(_client(request))
        return JSONResponse({"detail": err.problem.value}, err.status_code)
    language = _language(request, opened.merchant.language)
    async with services.sessions() as session:
        cards = await load_cards(session, opened.refunds, language, actionable=opened.actionable)
    body = {"version": version_of(opened.refunds, cards), "actionable": opened.actionable}
    return JSONResponse(body, headers={"Cache-Control": "no-store"})


async def _opened_for_form(
    request: Request, services: Svc, token: str, refund_id: str, given_token: str
) -> OpenedLink | HTMLResponse:
    """The link, for a POST about ``refund_id`` with the page's form token; else the page."""
    if (slowed := _slowed(request)) is not None:
        return slowed
    opened = await _open(request, services, token, audit_as="link.used", refund_id=refund_id)
    if isinstance(opened, HTMLResponse):
        return opened
    language = _language(request, opened.merchant.language)
    if not form_token_ok(links_key(services), opened.link.id_hash, refund_id, given_token):
        GUARD.refused(_client(request))
        _ = gettext_for(language)
        notice = {"kind": "error", "text": _("This form is out of date. Please try again.")}
        return await _render(request, services, token, opened, notice, 403)
    if not opened.actionable:
        return _refused(request, LinkProblem.EXPIRED, 410, language)
    return opened


def _back(token: str, refund_id: str, done: str) -> RedirectResponse:
    target = f"/m/{token}?done={done}#refund-{quote(refund_id, safe='')}"
    return RedirectResponse(target, status.HTTP_303_SEE_OTHER)


@router.post("/{token}/refunds/{refund_id}/answer", response_class=HTMLResponse)
async def answer(
    request: Request,
    token: str,
    refund_id: str,
    services: Svc,
    action: Annotated[str, Form()] = "",
    request_id: Annotated[str, Form()] = "",
    form_token: Annotated[str, Form()] = "",
) -> Response:
    opened = await _opened_for_form(request, services, token, refund_id, form_token)
    if isinstance(opened, HTMLResponse):
        return opened
    _ = gettext_for(_language(request, opened.merchant.language))
    if action not in _ACTIONS or not _REQUEST_ID.match(request_id):
        notice = {"kind": "error", "text": _("That button is not an answer we know.")}
        return await _render(request, services, token, opened, notice, 422)
    verdict = await take_answer(
        services,
        AnswerIn(
            refund_id=refund_id,
            merchant_id=opened.link.merchant_id,
            action=Action(action),
            channel=Channel.LINK,
            source_event_id=f"link:{refund_id}:{request_id}",
            raw=action,
            at=utcnow(),
        ),
    )
    if verdict.status == AnswerStatus.REFUSED:
        code, reason = http_refusal(refund_id, verdict)
        notice = {"kind": "error", "text": _(reason_words(reason))}
        return await _render(request, services, token, opened, notice, code)
    return _back(token, refund_id, action if verdict.taken else "kept")


def reason_words(reason: str) -> str:
    """The page's words for a refused answer (the API's reason names the rule)."""
    if "one-click rejection" in reason:
        return N_("One-click rejection is only for refunds we found abnormal. Dispute it instead.")
    if "already under" in reason:
        return N_("This refund is already disputed.")
    return N_("This refund needs no further answer.")


@router.post("/{token}/refunds/{refund_id}/evidence", response_class=HTMLResponse)
async def evidence(
    request: Request,
    token: str,
    refund_id: str,
    services: Svc,
    category: Annotated[str, Form()] = "other",
    note: Annotated[str, Form()] = "",
    request_id: Annotated[str, Form()] = "",
    form_token: Annotated[str, Form()] = "",
    files: Annotated[list[UploadFile] | None, File()] = None,
) -> Response:
    opened = await _opened_for_form(request, services, token, refund_id, form_token)
    if isinstance(opened, HTMLResponse):
        return opened
    _ = gettext_for(_language(request, opened.merchant.language))
    uploads = [f for f in files or [] if f.filename]  # an empty file input sends one blank part
    limits = evidence_limits(services)
    problem: tuple[int, str] | None = None
    try:
        if category not in CATEGORIES or not _REQUEST_ID.match(request_id):
            raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT)
        if not uploads:
            problem = (422, _("Choose a photo first."))
        else:
            checked = await checked_files(uploads, limits)
            await take_evidence(
                services,
                EvidenceRequest(
                    refund_id=refund_id,
                    merchant_id=opened.link.merchant_id,
                    request_id=request_id,
                    category=category,
                    note=check_note(note),
                    files=checked,
                ),
            )
    except FileTooLargeError:
        mb = limits.max_file_bytes // (1024 * 1024)
        problem = (413, _("The photo is too large: at most %(mb)s MB.") % {"mb": mb})
    except UnsupportedFileTypeError:
        problem = (415, _("That file is not a photo we take: use JPEG, PNG or WebP."))
    except (EvidenceRejectedError, HTTPException):
        problem = (422, _("Something in the form is not right. Please try again."))
    except EvidenceNotAcceptedError:
        problem = (409, _("Evidence is no longer accepted for this refund."))
    except (EvidenceConflictError, RefundNotFoundError, NotYourRefundError):
        problem = (409, _("This evidence was already sent differently. Reload the page."))
    except WatchUnreachable:
        problem = (503, _("We could not record it just now. Please send it again."))
    if problem is not None:
        code, text = problem
        return await _render(
            request, services, token, opened, {"kind": "error", "text": text}, code
        )
    return _back(token, refund_id, "evidence")
