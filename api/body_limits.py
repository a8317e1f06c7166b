"""Request-body caps per route, enforced before anything is parsed.

Starlette's ``RequestBodyLimitMiddleware`` does the counting: a ``Content-Length`` above the cap
is refused before a byte is read, and a body sent without one (chunked) is refused as soon as
the bytes streamed in pass the cap. FastAPI turns that into a 413, which api/errors.py words
with the cap. Only which cap applies is decided here:

* evidence uploads (``POST /v1/refunds/{id}/evidence``, and the merchant page's
  ``POST /m/{token}/refunds/{id}/evidence``): the files the evidence settings allow
  (``REFUNDWATCH_EVIDENCE_MAX_FILES`` x ``REFUNDWATCH_EVIDENCE_MAX_FILE_BYTES``) plus room for
  the form fields and multipart framing; each file is still checked against its own limit;
* bulk intake (``POST /v1/refunds/batch``, up to 500 refunds): ``BATCH_BODY_BYTES``, 4 KiB a
  refund, twice what the largest valid one takes;
* everything else (intake, merchants, resolutions, answers, Twilio's webhooks, reads):
  ``SMALL_BODY_BYTES``. The largest valid merchant (10 contacts, 200-character names) or refund
  (500-character reason, every signal) is a few KiB; Twilio's form posts are smaller still.
"""

from __future__ import annotations

import re

from starlette.datastructures import Headers
from starlette.middleware.body_limit import RequestBodyLimitMiddleware
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send

__all__ = [
    "BATCH_BODY_BYTES",
    "EVIDENCE_FORM_OVERHEAD",
    "SMALL_BODY_BYTES",
    "BodyLimits",
    "too_large_detail",
]

SMALL_BODY_BYTES = 64 * 1024
BATCH_BODY_BYTES = 500 * 4 * 1024
EVIDENCE_FORM_OVERHEAD = 256 * 1024  # note (2,000 characters), ids, part headers, boundaries
# The API's upload and the merchant page's (/m/<token>/refunds/<id>/evidence): the same files.
_EVIDENCE_UPLOAD = re.compile(r"^(/v1/refunds/[^/]+|/m/[^/]+/refunds/[^/]+)/evidence$")


def too_large_detail(cap: object) -> str:
    return f"the request body is larger than this route takes ({cap} bytes)"


class BodyLimits:
    def __init__(self, app: ASGIApp, *, max_files: int, max_file_bytes: int) -> None:
        self.small = RequestBodyLimitMiddleware(app, max_body_size=SMALL_BODY_BYTES)
        self.batch = RequestBodyLimitMiddleware(app, max_body_size=BATCH_BODY_BYTES)
        self.evidence = RequestBodyLimitMiddleware(
            app, max_body_size=max_files * max_file_bytes + EVIDENCE_FORM_OVERHEAD
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.small.app(scope, receive, send)
            return
        path, post = scope.get("path", ""), scope["method"] == "POST"
        limiter = self.small
        if post and path == "/v1/refunds/batch":
            limiter = self.batch
        elif post and _EVIDENCE_UPLOAD.match(path):
            limiter = self.evidence
        declared = Headers(scope=scope).get("content-length", "")
        if declared.isdigit() and int(declared) > limiter.max_body_size:
            # Said up front: refused before a byte of the body is read.
            detail = too_large_detail(limiter.max_body_size)
            await JSONResponse({"detail": detail}, status_code=413)(scope, receive, send)
            return
        await limiter(scope, receive, send)
