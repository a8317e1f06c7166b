"""Evidence from the risk gate: when a merchant rejects a refund with one click, the reasons the
risk gate gave at intake are recorded as the evidence (no files)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sqlmodel.ext.asyncio.session import AsyncSession

from db.audit import append_audit
from db.models import EvidenceSubmission, utcnow
from db.upsert import insert_ignore
from domain.vocabulary import RISK_REASONS
from evidence.submissions import find_submission
from evidence.validation import check_category, check_note, check_request_id

__all__ = ["RISK_GATE_CATEGORY", "record_risk_gate_evidence"]

# Not a merchant's category: the evidence is the risk gate's own reasons.
RISK_GATE_CATEGORY = RISK_REASONS


async def record_risk_gate_evidence(
    session: AsyncSession,
    refund_id: str,
    merchant_id: str,
    request_id: str,
    reasons: Sequence[Mapping[str, Any]],
    *,
    category: str = RISK_GATE_CATEGORY,
    note: str = "",
) -> EvidenceSubmission:
    """Record (once per ``request_id``) a ``risk_gate`` submission whose details are the risk
    reasons as stored with the assessment (``[{code, points, text}, …]``). ``category`` is
    ``risk_reasons`` unless the caller names a merchant category (e.g. ``empty_package``).
    Idempotent: a repeat returns the first row unchanged. The caller commits (one transaction
    with its own writes).
    """
    if category != RISK_GATE_CATEGORY:
        check_category(category)
    check_request_id(request_id)
    note = check_note(note)
    inserted = await insert_ignore(
        session,
        EvidenceSubmission,
        {
            "refund_id": refund_id,
            "merchant_id": merchant_id,
            "request_id": request_id,
            "category": category,
            "note": note,
            "source": "risk_gate",
            "details": {"reasons": [dict(reason) for reason in reasons]},
            "submitted_at": utcnow(),
        },
        ["refund_id", "request_id"],
    )
    submission = await find_submission(session, refund_id, request_id)
    assert submission is not None
    if inserted:
        await append_audit(
            session,
            kind="evidence.submitted",
            actor="risk_gate",
            refund_id=refund_id,
            merchant_id=merchant_id,
            detail={
                "evidence_id": submission.id,
                "request_id": request_id,
                "source": "risk_gate",
                "category": category,
                "reasons": [str(reason.get("code", "")) for reason in reasons],
                "files": [],
            },
            dedup_key=f"evidence:{refund_id}:{request_id}",
        )
    return submission
