"""Scoring a refund against the rules. Pure: the same input always gives the same answer."""

from __future__ import annotations

from risk.amount import always_track_reason, amount_reasons
from risk.behaviour import signal_reasons
from risk.buyer_history import history_reasons
from risk.results import RiskAssessmentResult, RiskInput
from risk.rules import RiskRules

__all__ = ["MAX_SCORE", "assess"]

MAX_SCORE = 100


def assess(item: RiskInput, rules: RiskRules) -> RiskAssessmentResult:
    reasons = (
        amount_reasons(item, rules)
        + signal_reasons(item.signals, rules.signals)
        + history_reasons(item.history, rules.history)
    )
    score = min(MAX_SCORE, sum(reason.points for reason in reasons))
    level = rules.levels.level_for(score)
    tracked = level.at_least(rules.track_from)
    if not tracked and (floor := always_track_reason(item, rules)) is not None:
        reasons.append(floor)
        tracked = True
    # Most points first; ties keep rule order (amount, buyer, device, parcel, order, history).
    ordered = tuple(sorted(reasons, key=lambda reason: -reason.points))
    return RiskAssessmentResult(score, level, ordered, tracked, rules.version)
