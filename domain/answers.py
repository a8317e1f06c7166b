"""Whether a merchant's answer or evidence counts: the rules, in one place.

The refund's watch is the one that decides (it owns the state these rules read): the answer
Update's validator, the evidence query and the signal handlers all call these functions with
the watch's :class:`WatchFacts`. The channels (keypad, SMS reply, in-app, the merchant page)
only parse what the merchant did and phrase the reply from the :class:`Refusal` (or its
absence) these functions return.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from domain.vocabulary import DISPUTING, Action, Stage

__all__ = ["Refusal", "WatchFacts", "judge_answer", "judge_evidence"]

_ACTIONS = frozenset(action.value for action in Action)


class Refusal(StrEnum):
    """Why an answer or an evidence submission does not count."""

    NOT_YOURS = "not_yours"  # another merchant's refund
    CLOSED = "closed"  # the watch has ended (resolved, timed out, evidence missed)
    UNKNOWN_ACTION = "unknown_action"
    NOT_ABNORMAL = "not_abnormal"  # one-click rejection where the risk gate found nothing
    ALREADY_DISPUTED = "already_disputed"  # a second dispute or rejection
    NOT_DISPUTED = "not_disputed"  # evidence without an open dispute
    WINDOW_CLOSED = "window_closed"  # evidence at or after the evidence deadline


@dataclass(frozen=True)
class WatchFacts:
    """What the rules need to know about a watch, as the watch itself holds it."""

    merchant_id: str
    stage: Stage
    closed: bool  # the watch decided its outcome (or the platform resolved the refund)
    abnormal: bool  # the risk gate found abnormal signals: one-click rejection is allowed
    dispute: Action | None = None  # dispute | reject, once the merchant contested the refund
    evidence_due: datetime | None = None  # while a dispute's evidence is awaited
    evidence_taken: bool = False  # evidence (or a rejection's risk reasons) counted already
    evidence_missed: bool = False  # the watch ended because the evidence window passed


def judge_answer(facts: WatchFacts, merchant_id: str, action: str) -> Refusal | None:
    """None when the answer counts. An answer after the first one may count without changing
    anything (a second "I'll handle it"); a dispute may follow "I'll handle it"."""
    if merchant_id != facts.merchant_id:
        return Refusal.NOT_YOURS
    if facts.closed:
        return Refusal.CLOSED
    if action not in _ACTIONS:
        return Refusal.UNKNOWN_ACTION
    if action == Action.REJECT and not facts.abnormal:
        return Refusal.NOT_ABNORMAL
    if action in DISPUTING and facts.dispute is not None:
        return Refusal.ALREADY_DISPUTED
    return None


def judge_evidence(facts: WatchFacts, merchant_id: str, at: datetime) -> Refusal | None:
    """None when evidence submitted ``at`` counts: the merchant's dispute is open and its
    evidence deadline has not passed. More evidence may follow the first until that deadline
    (a one-click rejection brings its own: the risk gate's reasons)."""
    if merchant_id != facts.merchant_id:
        return Refusal.NOT_YOURS
    if facts.evidence_missed or (facts.evidence_due is not None and at >= facts.evidence_due):
        return Refusal.WINDOW_CLOSED
    if facts.closed:
        return Refusal.CLOSED
    if facts.dispute != Action.DISPUTE or facts.evidence_due is None:
        return Refusal.NOT_DISPUTED
    return None
