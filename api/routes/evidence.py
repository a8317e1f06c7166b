"""Evidence on disputed refunds: merchants submit and list theirs; support lists and downloads.

A submission is multipart/form-data (``category``, ``note``, ``request_id``, ``files`` 0..N),
checked completely before anything is stored (see evidence/validation.py), recorded without
half-states (evidence/submissions.py), then signalled to the refund's watch.
"""

from __future__ import annotations

from typing import Annotated
from urllib.parse import quote

import structlog
from fastapi import (
    APIRouter,
    File,
    Form,
    HTTPException,
    Path,
    Response,
    UploadFile,
    status,
)
from fastapi.exceptions import RequestValidationError
from fastapi.responses import StreamingResponse
from sqlmodel import col, select

from api.auth import MerchantCaller, ReaderCaller
from api.deps import Svc
from application.evidence import take_evidence
from application.services import Services
from db.audit import record_support_view
from db.models import EvidenceFile, EvidenceSubmission, Refund
from evidence.store import StoredObjectMissingError
from evidence.submissions import (
    EvidenceConflictError,
    EvidenceNotAcceptedError,
    EvidenceRequest,
    NotYourRefundError,
    RefundNotFoundError,
)
from evidence.validation import (
    NOTE_MAX,
    REQUEST_ID_PATTERN,
    Category,
    CheckedFile,
    EvidenceLimits,
    EvidenceRejectedError,
    FileTooLargeError,
    UnsupportedFileTypeError,
    check_file,
    check_file_count,
    check_note,
)
from evidence.views import EvidenceView, evidence_view, load_evidence

__all__ = ["checked_files", "evidence_limits", "evidence_refusal", "router", "stream_evidence_file"]

router = APIRouter(tags=["evidence"])
log = structlog.get_logger(__name__)

RefundId = Annotated[str, Path(min_length=1, max_length=64, pattern=r"^[^\x00]+$")]


def evidence_limits(services: Services) -> EvidenceLimits:
    settings = services.settings
    return EvidenceLimits(
        max_file_bytes=settings.evidence_max_file_bytes, max_files=settings.evidence_max_files
    )


def evidence_refusal(err: EvidenceRejectedError) -> Exception:
    if isinstance(err, FileTooLargeError):
        return HTTPException(status.HTTP_413_CONTENT_TOO_LARGE, err.message)
    if isinstance(err, UnsupportedFileTypeError):
        return HTTPException(status.HTTP_415_UNSUPPORTED_MEDIA_TYPE, err.message)
    return RequestValidationError(
        [{"loc": ("body", err.field), "msg": err.message, "type": "value_error"}]
    )


async def checked_files(uploads: list[UploadFile], limits: EvidenceLimits) -> list[CheckedFile]:
    check_file_count(len(uploads), limits)
    checked = []
    for position, upload in enumerate(uploads, start=1):
        # One byte past the limit is enough to refuse; never more in memory.
        data = await upload.read(limits.max_file_bytes + 1)
        checked.append(check_file(upload.filename, upload.content_type, data, limits, position))
    return checked


@router.post(
    "/v1/refunds/{refund_id}/evidence",
    response_model=EvidenceView,
    status_code=status.HTTP_201_CREATED,
    responses={
        200: {"description": "The same request_id was received before; its submission"},
        403: {"description": "Not this merchant's refund"},
        404: {"description": "Unknown refund"},
        409: {"description": "Not disputed, window closed, or request_id reused differently"},
        413: {"description": "A file is larger than the per-file limit"},
        415: {"description": "A file is not JPEG, PNG, WebP or PDF, or not what it claims"},
        422: {"description": "A field is invalid (names it)"},
        503: {"description": "Recorded, but the watch could not be told; send it again"},
    },
)
async def submit(
    refund_id: RefundId,
    response: Response,
    services: Svc,
    caller: MerchantCaller,
    category: Annotated[Category, Form(description="What is wrong with the return")],
    request_id: Annotated[
        str,
        Form(
            pattern=REQUEST_ID_PATTERN,
            description="Client-chosen idempotency key: a retry with it returns the first answer",
        ),
    ],
    note: Annotated[str, Form(max_length=NOTE_MAX, description="Free text for support")] = "",
    files: Annotated[
        list[UploadFile] | None,
        File(description="0..N files: JPEG, PNG, WebP or PDF (by content, not by name)"),
    ] = None,
) -> EvidenceView:
    """Submit evidence while the refund is disputed and before its evidence deadline."""
    assert caller.merchant_id is not None
    try:
        checked = await checked_files(files or [], evidence_limits(services))
        request = EvidenceRequest(
            refund_id=refund_id,
            merchant_id=caller.merchant_id,
            request_id=request_id,
            category=category,
            note=check_note(note),
            files=checked,
        )
    except EvidenceRejectedError as err:
        raise evidence_refusal(err) from None
    try:
        submitted = await take_evidence(services, request)
    except RefundNotFoundError:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"refund {refund_id} not found") from None
    except NotYourRefundError:
        raise HTTPException(
            status.HTTP_403_FORBIDDEN, f"refund {refund_id} belongs to another merchant"
        ) from None
    except EvidenceNotAcceptedError as err:
        raise HTTPException(status.HTTP_409_CONFLICT, str(err)) from None
    except EvidenceConflictError as err:
        raise HTTPException(
            status.HTTP_409_CONFLICT, {"message": str(err), "fields": err.fields}
        ) from None
    submission = submitted.submission
    log.info(
        "evidence_submitted",
        refund_id=refund_id,
        merchant_id=caller.merchant_id,
        evidence_id=submission.id,
        files=len(submitted.files),
        created=submitted.created,
    )
    if not submitted.created:
        response.status_code = status.HTTP_200_OK
    return evidence_view(submission, submitted.files, with_downloads=False)


@router.get("/v1/merchant/refunds/{refund_id}/evidence", response_model=list[EvidenceView])
async def merchant_evidence(
    refund_id: RefundId, services: Svc, caller: MerchantCaller
) -> list[EvidenceView]:
    """The evidence recorded on one of the merchant's refunds, oldest first."""
    async with services.sessions() as session:
        refund = await session.get(Refund, refund_id)
        if refund is None:
            raise HTTPException(status.HTTP_404_NOT_FOUND, f"refund {refund_id} not found")
        if refund.merchant_id != caller.merchant_id:
            raise HTTPException(
                status.HTTP_403_FORBIDDEN, f"refund {refund_id} belongs to another merchant"
            )
        return await load_evidence(session, refund_id, with_downloads=False)


@router.get("/v1/support/refunds/{refund_id}/evidence", response_model=list[EvidenceView])
async def support_evidence(
    refund_id: RefundId, services: Svc, caller: ReaderCaller
) -> list[EvidenceView]:
    """Every submission on the refund with its files and their download URLs (audited)."""
    async with services.sessions() as session:
        refund = await session.get(Refund, refund_id)
        if refund is None:
            raise HTTPException(status.HTTP_404_NOT_FOUND, f"refund {refund_id} not found")
        evidence = await load_evidence(session, refund_id, with_downloads=True)
        await record_support_view(
            session,
            actor=caller.role.value,
            viewer=caller.viewer,
            view="evidence",
            refund_id=refund_id,
            merchant_id=refund.merchant_id,
        )
    return evidence


@router.get(
    "/v1/support/evidence/files/{file_id}",
    response_class=StreamingResponse,
    responses={200: {"description": "The file's bytes, as an attachment"}},
)
async def support_evidence_file(
    file_id: Annotated[int, Path(ge=1, le=2**31 - 1)], services: Svc, caller: ReaderCaller
) -> StreamingResponse:
    """One evidence file's bytes with its detected content type (audited)."""
    return await stream_evidence_file(
        services, file_id, actor=caller.role.value, viewer=caller.viewer
    )


def _attachment(filename: str) -> str:
    # An ASCII fallback for old clients, the exact name in RFC 5987 form for the others.
    fallback = "".join(ch if 32 <= ord(ch) < 127 and ch not in '"\\' else "_" for ch in filename)
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(filename, safe='')}"


async def stream_evidence_file(
    services: Services, file_id: int, *, actor: str, viewer: str | None = None
) -> StreamingResponse:
    """The download itself, shared by the API (bearer token) and the support pages (cookie)."""
    async with services.sessions() as session:
        statement = (
            select(EvidenceFile, EvidenceSubmission)
            .join(EvidenceSubmission, col(EvidenceSubmission.id) == col(EvidenceFile.evidence_id))
            .where(EvidenceFile.id == file_id)
        )
        found = (await session.exec(statement)).first()
        if found is None:
            raise HTTPException(status.HTTP_404_NOT_FOUND, f"evidence file {file_id} not found")
        stored, submission = found
        try:
            chunks = await services.evidence.open(stored.storage_key)
        except StoredObjectMissingError:
            log.error("evidence_bytes_missing", file_id=file_id, storage_key=stored.storage_key)
            raise HTTPException(
                status.HTTP_500_INTERNAL_SERVER_ERROR,
                f"evidence file {file_id} is recorded but its bytes are missing from the "
                "evidence store; tell an operator (REFUNDWATCH_EVIDENCE_DIR)",
            ) from None
        await record_support_view(
            session,
            actor=actor,
            viewer=viewer,
            collapse=False,  # each download is its own act
            view="evidence.file",
            refund_id=submission.refund_id,
            merchant_id=submission.merchant_id,
            file_id=file_id,
            evidence_id=submission.id,
        )
    return StreamingResponse(
        chunks,
        media_type=stored.content_type,
        headers={
            "Content-Disposition": _attachment(stored.filename),
            "Content-Length": str(stored.size_bytes),
            "Cache-Control": "private, no-store",
            "X-Content-Type-Options": "nosniff",
            # Never rendered as a page of ours, whatever a browser makes of it.
            "Content-Security-Policy": "default-src 'none'; sandbox",
        },
    )
