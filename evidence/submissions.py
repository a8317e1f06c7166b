"""Recording a merchant's evidence: nothing half-stored.

Whether evidence may be submitted now is not decided here: the caller passes ``admit``, which
asks the refund's watch (domain/answers.py judges; see application/evidence.py). It is asked
before anything is stored and again, under the refund's row lock, just before the rows are
written. The files go to the store first, each under a fresh key; then the submission, its
files and an audit record are written in one transaction. If that transaction fails, the
stored files are deleted again, so the store never holds bytes no row points to and no row
points to missing bytes. A ``request_id`` seen before answers with the first submission (or a
conflict when the content differs) and stores nothing.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime

import structlog
from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from db.audit import append_audit
from db.models import EvidenceFile, EvidenceSubmission, Refund, utcnow
from domain.vocabulary import EvidenceSource
from evidence.store import EvidenceStore, new_storage_key
from evidence.validation import CheckedFile

__all__ = [
    "Admit",
    "EvidenceConflictError",
    "EvidenceNotAcceptedError",
    "EvidenceRequest",
    "NotYourRefundError",
    "RefundNotFoundError",
    "Submitted",
    "find_submission",
    "submit_evidence",
]

log = structlog.get_logger(__name__)


class RefundNotFoundError(LookupError):
    pass


class NotYourRefundError(PermissionError):
    pass


class EvidenceNotAcceptedError(RuntimeError):
    """The refund is not disputed, or its evidence window has closed (the message says which)."""


# Raises EvidenceNotAcceptedError unless evidence submitted at that moment would count.
Admit = Callable[[datetime], Awaitable[None]]


class EvidenceConflictError(RuntimeError):
    """The request_id was used before with other content; ``fields`` says what differs."""

    def __init__(self, message: str, fields: list[str]) -> None:
        super().__init__(message)
        self.fields = fields


@dataclass(frozen=True)
class EvidenceRequest:
    """A merchant's submission, already validated (see evidence.validation)."""

    refund_id: str
    merchant_id: str
    request_id: str
    category: str
    note: str
    files: Sequence[CheckedFile]


@dataclass(frozen=True)
class Submitted:
    refund: Refund
    submission: EvidenceSubmission
    files: list[EvidenceFile]
    created: bool  # False: the same request_id came before; this is the first submission


async def find_submission(
    session: AsyncSession, refund_id: str, request_id: str
) -> EvidenceSubmission | None:
    statement = select(EvidenceSubmission).where(
        EvidenceSubmission.refund_id == refund_id, EvidenceSubmission.request_id == request_id
    )
    return (await session.exec(statement)).first()


async def _repeat(
    session: AsyncSession, refund: Refund, earlier: EvidenceSubmission, request: EvidenceRequest
) -> Submitted:
    statement = (
        select(EvidenceFile)
        .where(EvidenceFile.evidence_id == earlier.id)
        .order_by(col(EvidenceFile.id))
    )
    files = list((await session.exec(statement)).all())
    differs = [
        name
        for name, before, now in (
            ("source", earlier.source, EvidenceSource.MERCHANT),
            ("category", earlier.category, request.category),
            ("note", earlier.note, request.note),
            (
                "files",
                sorted((f.filename, f.sha256) for f in files),
                sorted((f.filename, f.sha256) for f in request.files),
            ),
        )
        if before != now
    ]
    if differs:
        raise EvidenceConflictError(
            f"request_id {request.request_id} was already used for evidence {earlier.id} "
            "with different content; use a new request_id for new evidence",
            differs,
        )
    return Submitted(refund=refund, submission=earlier, files=files, created=False)


async def submit_evidence(
    session: AsyncSession, store: EvidenceStore, request: EvidenceRequest, admit: Admit
) -> Submitted:
    """Check, store the files, record everything in one transaction (committed here).

    Raises RefundNotFoundError, NotYourRefundError, EvidenceNotAcceptedError (from ``admit``:
    not disputed, window closed) and EvidenceConflictError (request_id reused differently).
    """
    refund = await session.get(Refund, request.refund_id)
    if refund is None:
        raise RefundNotFoundError(request.refund_id)
    if refund.merchant_id != request.merchant_id:
        raise NotYourRefundError(request.refund_id)
    earlier = await find_submission(session, request.refund_id, request.request_id)
    if earlier is not None:
        # Before the window check: a retry after a 503 gets its answer even once it closed.
        return await _repeat(session, refund, earlier, request)
    await session.rollback()  # hold no transaction open while the watch is asked, files written
    await admit(utcnow())

    keys: list[str] = []
    try:
        for checked in request.files:
            key = new_storage_key()
            await store.put(key, checked.data)
            keys.append(key)
        return await _record(session, request, keys, admit)
    except IntegrityError:
        # The same request_id won a race with us: answer as for any repeat.
        log.info("evidence_request_raced", refund_id=request.refund_id, files=len(keys))
        await _discard(session, store, keys)
        earlier = await find_submission(session, request.refund_id, request.request_id)
        current = await session.get(Refund, request.refund_id)  # reloaded after the rollback
        if earlier is None or current is None:
            raise
        return await _repeat(session, current, earlier, request)
    except BaseException:
        await _discard(session, store, keys)
        raise


async def _record(
    session: AsyncSession, request: EvidenceRequest, keys: list[str], admit: Admit
) -> Submitted:
    # Locked and asked again: the dispute may have closed while the files were written.
    locked = await session.exec(
        select(Refund).where(Refund.refund_id == request.refund_id).with_for_update()
    )
    refund = locked.one()
    now = utcnow()
    await admit(now)
    submission = EvidenceSubmission(
        refund_id=request.refund_id,
        merchant_id=request.merchant_id,
        request_id=request.request_id,
        category=request.category,
        note=request.note,
        source=EvidenceSource.MERCHANT,
        details={},
        submitted_at=now,
    )
    session.add(submission)
    await session.flush()
    assert submission.id is not None
    files = [
        EvidenceFile(
            evidence_id=submission.id,
            filename=checked.filename,
            content_type=checked.content_type,
            size_bytes=checked.size_bytes,
            sha256=checked.sha256,
            storage_key=key,
            created_at=now,
        )
        for checked, key in zip(request.files, keys, strict=True)
    ]
    session.add_all(files)
    await append_audit(
        session,
        kind="evidence.submitted",
        actor="merchant",
        refund_id=request.refund_id,
        merchant_id=request.merchant_id,
        # No filenames or note here: they may carry personal data; the rows hold them.
        detail={
            "evidence_id": submission.id,
            "request_id": request.request_id,
            "source": EvidenceSource.MERCHANT,
            "category": request.category,
            "files": [
                {"content_type": f.content_type, "size_bytes": f.size_bytes, "sha256": f.sha256}
                for f in files
            ],
        },
        dedup_key=f"evidence:{request.refund_id}:{request.request_id}",
    )
    await session.commit()
    return Submitted(refund=refund, submission=submission, files=files, created=True)


async def _discard(session: AsyncSession, store: EvidenceStore, keys: list[str]) -> None:
    """Undo the store writes of a failed transaction. A commit that failed on the way back may
    still have landed: keys the database does hold are kept."""
    try:
        await session.rollback()
        if keys:
            statement = select(EvidenceFile.storage_key).where(
                col(EvidenceFile.storage_key).in_(keys)
            )
            kept = set((await session.exec(statement)).all())
            await session.rollback()
        else:
            kept = set()
    except Exception:  # cannot ask the database: the rule is to delete what we stored
        kept = set()
    for key in keys:
        if key in kept:
            continue
        try:
            await store.delete(key)
        except Exception as err:  # keep going: one stuck file must not keep the others
            log.error("evidence_orphan_left", storage_key=key, error=repr(err))
