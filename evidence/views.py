"""Evidence as the API, the support views and the CLI show it."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from pydantic import BaseModel
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from db.models import EvidenceFile, EvidenceSubmission

__all__ = [
    "SUPPORT_DOWNLOAD_PATH",
    "EvidenceFileView",
    "EvidenceView",
    "evidence_view",
    "files_of",
    "load_evidence",
]

# Where support downloads a file's bytes (support or platform token); {file_id} is the file's id.
SUPPORT_DOWNLOAD_PATH = "/v1/support/evidence/files/{file_id}"


class EvidenceFileView(BaseModel):
    id: int
    filename: str
    content_type: str
    size_bytes: int
    sha256: str
    # Set in support views only: the merchant app has no download of its own yet.
    download_url: str | None = None


class EvidenceView(BaseModel):
    id: int
    refund_id: str
    merchant_id: str
    request_id: str
    source: str
    category: str
    note: str
    details: dict[str, Any]
    submitted_at: datetime
    files: list[EvidenceFileView]


def evidence_view(
    submission: EvidenceSubmission, files: Sequence[EvidenceFile], *, with_downloads: bool
) -> EvidenceView:
    assert submission.id is not None
    return EvidenceView(
        id=submission.id,
        refund_id=submission.refund_id,
        merchant_id=submission.merchant_id,
        request_id=submission.request_id,
        source=submission.source,
        category=submission.category,
        note=submission.note,
        details=submission.details,
        submitted_at=submission.submitted_at,
        files=[
            EvidenceFileView(
                id=f.id,
                filename=f.filename,
                content_type=f.content_type,
                size_bytes=f.size_bytes,
                sha256=f.sha256,
                download_url=SUPPORT_DOWNLOAD_PATH.format(file_id=f.id) if with_downloads else None,
            )
            for f in files
            if f.id is not None
        ],
    )


async def files_of(session: AsyncSession, evidence_ids: Sequence[int]) -> list[EvidenceFile]:
    if not evidence_ids:
        return []
    statement = (
        select(EvidenceFile)
        .where(col(EvidenceFile.evidence_id).in_(evidence_ids))
        .order_by(col(EvidenceFile.id))
    )
    return list((await session.exec(statement)).all())


async def load_evidence(
    session: AsyncSession, refund_id: str, *, with_downloads: bool
) -> list[EvidenceView]:
    """Every submission on the refund, oldest first, each with its files in upload order."""
    submissions = (
        await session.exec(
            select(EvidenceSubmission)
            .where(EvidenceSubmission.refund_id == refund_id)
            .order_by(col(EvidenceSubmission.submitted_at), col(EvidenceSubmission.id))
        )
    ).all()
    files = await files_of(session, [s.id for s in submissions if s.id is not None])
    return [
        evidence_view(s, [f for f in files if f.evidence_id == s.id], with_downloads=with_downloads)
        for s in submissions
    ]
