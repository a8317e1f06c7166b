"""What the merchant page shows for each refund of a link, in the merchant's language.

Built from the rows the watch projects (stage, answer, evidence deadline), the risk gate's
reasons, the evidence received and the events the platform was told. Which actions are
offered follows what the watch would accept (domain/answers.py decides when one is pressed):
"handle now" and "dispute" while no dispute stands, one-click rejection only where the risk
gate found something abnormal, and the camera upload while a dispute's evidence window is
open. ``version`` changes whenever anything shown changes: the open page polls it.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import datetime

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from db.models import (
    EvidenceFile,
    EvidenceSubmission,
    MerchantResponse,
    OutboundEvent,
    Refund,
    RiskAssessment,
    utcnow,
)
from domain.money import format_money
from domain.vocabulary import Action, EvidenceSource, RefundState, Stage
from messages.i18n import N_, gettext_for
from messages.risk_words import plain_reasons
from risk.abnormal import is_abnormal

__all__ = ["Happening", "RefundCard", "load_cards", "version_of"]

_DISPUTED_STAGES = {Stage.DISPUTED, Stage.REJECTED, Stage.EVIDENCE_SUBMITTED}
_TOLD = {
    "refund.merchant_handling": N_("The platform was told you are handling it."),
    "refund.disputed": N_("The platform was told you dispute this refund."),
    "refund.evidence_submitted": N_("The platform received your evidence."),
    "refund.rejected": N_("The platform was told you rejected it as abnormal."),
    "refund.evidence_missed": N_("The platform was told no evidence came in time."),
}
_ANSWERED = {
    Action.HANDLE_NOW: N_("You said you will handle it now."),
    Action.DISPUTE: N_("You disputed it as abnormal."),
    Action.REJECT: N_("You rejected it as abnormal."),
    Action.ACKNOWLEDGE: N_("You saw the notice."),
}
_STATUS = {
    RefundState.OPEN: N_("Waiting for your answer"),
    RefundState.RESOLVED: N_("Closed: the platform decided"),
    RefundState.TIMED_OUT: N_("Closed: auto-approved at the deadline"),
    RefundState.EVIDENCE_MISSED: N_("Closed: auto-approved, no evidence in time"),
}
_STAGE_STATUS = {
    Stage.ACKNOWLEDGED: N_("You are handling it"),
    Stage.DISPUTED: N_("Disputed: upload your evidence"),
    Stage.REJECTED: N_("Rejected as abnormal: the platform decides"),
    Stage.EVIDENCE_SUBMITTED: N_("Evidence received: the platform decides"),
}
_RESOLUTION = {
    "approved": N_("The platform approved the refund."),
    "rejected": N_("The platform rejected the refund."),
    "cancelled": N_("The buyer cancelled the refund."),
}


@dataclass(frozen=True)
class Happening:
    at: datetime
    text: str


@dataclass
class RefundCard:
    refund_id: str
    order_id: str
    amount: str
    deadline: datetime
    evidence_due: datetime | None
    status: str
    open: bool
    reasons: list[str]
    can_handle: bool
    can_dispute: bool
    can_reject: bool
    can_upload: bool
    happened: list[Happening] = field(default_factory=list)
    evidence_files: int = 0


async def _rows(session: AsyncSession, refund_ids: list[str]) -> dict[str, list[object]]:
    found: dict[str, list[object]] = {rid: [] for rid in refund_ids}
    for model, column in (
        (MerchantResponse, MerchantResponse.refund_id),
        (OutboundEvent, OutboundEvent.refund_id),
        (EvidenceSubmission, EvidenceSubmission.refund_id),
    ):
        rows = (await session.exec(select(model).where(col(column).in_(refund_ids)))).all()
        for row in rows:
            found[row.refund_id].append(row)  # type: ignore[attr-defined]
    return found


async def _risk(session: AsyncSession, refund_id: str) -> list[dict[str, object]]:
    statement = (
        select(RiskAssessment)
        .where(RiskAssessment.refund_id == refund_id)
        .order_by(col(RiskAssessment.id).desc())
        .limit(1)
    )
    risk = (await session.exec(statement)).first()
    return list(risk.reasons) if risk else []


async def _file_count(session: AsyncSession, evidence_ids: list[int]) -> int:
    if not evidence_ids:
        return 0
    statement = select(EvidenceFile).where(col(EvidenceFile.evidence_id).in_(evidence_ids))
    return len((await session.exec(statement)).all())


async def load_cards(
    session: AsyncSession, refunds: list[Refund], language: str, *, actionable: bool
) -> list[RefundCard]:
    _ = gettext_for(language)
    now = utcnow()
    related = await _rows(session, [r.refund_id for r in refunds])
    cards = []
    for refund in refunds:
        reasons = await _risk(session, refund.refund_id)
        open_ = refund.state == RefundState.OPEN and actionable
        disputed = refund.stage in _DISPUTED_STAGES
        due = refund.evidence_due_at
        rows = related[refund.refund_id]
        answers = [r for r in rows if isinstance(r, MerchantResponse)]
        uploads = [
            r
            for r in rows
            if isinstance(r, EvidenceSubmission) and r.source == EvidenceSource.MERCHANT
        ]
        happened = [Happening(a.received_at, _(_ANSWERED[Action(a.action)])) for a in answers]
        for event in (r for r in rows if isinstance(r, OutboundEvent)):
            if event.delivered_at is not None and event.type in _TOLD:
                happened.append(Happening(event.delivered_at, _(_TOLD[event.type])))
        for upload in uploads:
            happened.append(Happening(upload.submitted_at, _("We received your evidence.")))
        if refund.resolution in _RESOLUTION and refund.closed_at is not None:
            happened.append(Happening(refund.closed_at, _(_RESOLUTION[refund.resolution])))
        status = _STAGE_STATUS.get(Stage(refund.stage)) if open_ else None
        cards.append(
            RefundCard(
                refund_id=refund.refund_id,
                order_id=refund.order_id,
                amount=format_money(refund.amount_minor, refund.currency),
                deadline=refund.deadline_at,
                evidence_due=due,
                status=_(status or _STATUS.get(RefundState(refund.state), refund.state)),
                open=open_,
                reasons=plain_reasons(reasons, language),
                can_handle=open_ and not disputed and refund.merchant_answer is None,
                can_dispute=open_ and not disputed,
                can_reject=open_ and not disputed and is_abnormal(reasons),
                can_upload=open_
                and refund.stage in (Stage.DISPUTED, Stage.EVIDENCE_SUBMITTED)
                and due is not None
                and now < due,
                happened=sorted(happened, key=lambda h: h.at),
                evidence_files=await _file_count(session, [u.id for u in uploads if u.id]),
            )
        )
    return cards


def version_of(refunds: list[Refund], cards: list[RefundCard]) -> str:
    """Changes whenever something the page shows changes (the page polls it)."""
    parts = [
        f"{r.refund_id}:{r.state}:{r.stage}:{r.merchant_answer}:{r.deadline_at.isoformat()}"
        for r in refunds
    ]
    parts += [f"{c.refund_id}:{len(c.happened)}:{c.evidence_files}" for c in cards]
    return hashlib.sha256("|".join(parts).encode()).hexdigest()[:16]
