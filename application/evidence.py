"""The one way in for a merchant's evidence (the API's upload, and later the merchant page).

The refund's watch decides whether evidence counts (domain/answers.py, through its
``evidence_verdict`` query): before anything is stored, and again just before the rows are
written. The evidence is then stored without half-states (evidence/submissions.py) and the
watch is told; it judges the submission time once more against its window.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from temporalio.service import RPCError, RPCStatusCode

from application.services import Services
from application.watch_client import WatchUnreachable, signal_watch
from domain.answers import Refusal
from evidence.submissions import (
    EvidenceNotAcceptedError,
    EvidenceRequest,
    Submitted,
    submit_evidence,
)
from workflows.inputs import EvidenceCheck, EvidenceSubmitted, EvidenceVerdict
from workflows.refund_watch import RefundWatchWorkflow
from workflows.starter import watch_handle

__all__ = ["admit_evidence", "take_evidence"]

_QUERY_TIMEOUT = timedelta(seconds=10)


async def take_evidence(services: Services, request: EvidenceRequest) -> Submitted:
    """Store the evidence if the watch says it counts, then tell the watch. Raises what
    :func:`evidence.submit_evidence` raises, and WatchUnreachable."""

    async def admit(at: datetime) -> None:
        await admit_evidence(services, request.refund_id, request.merchant_id, at)

    async with services.sessions() as session:
        submitted = await submit_evidence(session, services.evidence, request, admit)
    submission = submitted.submission
    assert submission.id is not None
    # A repeat tells the watch again: it may be the retry of a request whose signal failed.
    await signal_watch(
        services,
        request.refund_id,
        "evidence_submitted",
        EvidenceSubmitted(
            evidence_id=submission.id,
            category=submission.category,
            source=submission.source,
            at=submission.submitted_at,
        ),
    )
    return submitted


async def admit_evidence(
    services: Services, refund_id: str, merchant_id: str, at: datetime
) -> None:
    """Raise EvidenceNotAcceptedError (saying why) unless evidence from ``merchant_id`` at
    ``at`` would count, as the refund's watch judges it."""
    handle = watch_handle(services.temporal, refund_id)
    try:
        verdict = await handle.query(
            RefundWatchWorkflow.evidence_verdict,
            EvidenceCheck(merchant_id, at),
            rpc_timeout=_QUERY_TIMEOUT,
        )
    except RPCError as err:
        if err.status == RPCStatusCode.NOT_FOUND:
            raise EvidenceNotAcceptedError(
                f"refund {refund_id} is not disputed (it is not watched): evidence is "
                "accepted only while the merchant's dispute is open"
            ) from None
        raise WatchUnreachable(
            refund_id, "the refund's watch could not be asked; send the same request again"
        ) from err
    if verdict.refusal is not None:
        raise EvidenceNotAcceptedError(_explain(refund_id, verdict))


def _explain(refund_id: str, verdict: EvidenceVerdict) -> str:
    refusal = Refusal(verdict.refusal) if verdict.refusal else None
    if refusal == Refusal.WINDOW_CLOSED and verdict.evidence_due is not None:
        return f"the evidence window closed at {verdict.evidence_due.isoformat()}"
    if refusal == Refusal.CLOSED:
        return f"refund {refund_id} is already closed: evidence is no longer accepted"
    return (
        f"refund {refund_id} is not disputed (stage {verdict.stage}): evidence is accepted "
        "only while the merchant's dispute is open"
    )
