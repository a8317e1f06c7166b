"""A buyer's (and device's) earlier refunds: how they ended, and the points that history adds.

Pure: the counts are read by `risk.outcome_store` at intake; the rules are the file's `history:`.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from enum import StrEnum

from risk.reasons import RiskReason
from risk.rules import HistoryRules, SubjectHistoryRules

__all__ = ["BuyerHistory", "OutcomeCounts", "PriorOutcome", "history_reasons"]


class PriorOutcome(StrEnum):
    """How an earlier refund ended, as recorded per buyer and per device."""

    DISPUTE_UPHELD = "dispute_upheld"  # the merchant disputed, the platform rejected the refund
    REFUND_REJECTED = "refund_rejected"  # the platform rejected it, disputed or not
    EVIDENCE_MISSED = "evidence_missed"  # the merchant's dispute evidence came too late
    TIMED_OUT = "timed_out"  # auto-approved at the deadline
    HANDLED = "handled"  # approved or cancelled normally


@dataclass(frozen=True)
class OutcomeCounts:
    """Earlier refunds per outcome; one refund rejected after a dispute counts in both kinds."""

    dispute_upheld: int = 0
    refund_rejected: int = 0
    evidence_missed: int = 0
    timed_out: int = 0
    handled: int = 0

    def __post_init__(self) -> None:
        for field in fields(self):
            value = getattr(self, field.name)
            if not isinstance(value, int) or value < 0:
                raise ValueError(f"{field.name} must be a count (int >= 0), not {value!r}")

    def of(self, outcome: PriorOutcome) -> int:
        count: int = getattr(self, outcome.value)
        return count


@dataclass(frozen=True)
class BuyerHistory:
    """None for a subject means the refund did not name it (no buyer_id / device_id).

    `device` leaves out refunds already counted under `buyer`, so one earlier refund from the
    same buyer on the same device is not scored twice.
    """

    buyer: OutcomeCounts | None = None
    device: OutcomeCounts | None = None


# Most telling first: when a subject's cap is reached, the milder kinds are the ones cut.
_ORDER = (
    PriorOutcome.DISPUTE_UPHELD,
    PriorOutcome.REFUND_REJECTED,
    PriorOutcome.EVIDENCE_MISSED,
    PriorOutcome.TIMED_OUT,
    PriorOutcome.HANDLED,
)
_CODES = {
    PriorOutcome.DISPUTE_UPHELD: "prior_disputes_upheld",
    PriorOutcome.REFUND_REJECTED: "prior_refunds_rejected",
    PriorOutcome.EVIDENCE_MISSED: "prior_evidence_missed",
    PriorOutcome.TIMED_OUT: "prior_timeouts",
    PriorOutcome.HANDLED: "prior_handled",
}
_ENDED = {
    PriorOutcome.DISPUTE_UPHELD: "rejected after the merchant's dispute",
    PriorOutcome.REFUND_REJECTED: "rejected by the platform",
    PriorOutcome.EVIDENCE_MISSED: "disputed without the merchant's evidence in time",
    PriorOutcome.TIMED_OUT: "auto-approved at the deadline",
    PriorOutcome.HANDLED: "handled by the merchant",
}


def history_reasons(history: BuyerHistory | None, rules: HistoryRules) -> list[RiskReason]:
    if history is None:
        return []
    found: list[RiskReason] = []
    if history.buyer is not None:
        found += _subject("buyer", "this buyer had", history.buyer, rules.buyer, rules)
    if history.device is not None:
        # With a buyer id, the device's count already leaves that buyer's refunds out.
        who = "other buyers on this device had" if history.buyer is not None else "this device had"
        found += _subject("device", who, history.device, rules.device, rules)
    return found


def _subject(
    kind: str,
    who: str,
    counts: OutcomeCounts,
    points: SubjectHistoryRules,
    rules: HistoryRules,
) -> list[RiskReason]:
    found: list[RiskReason] = []
    left = points.max_points
    for outcome in _ORDER:
        count, each = counts.of(outcome), points.points_for(outcome.value)
        if not count or not each:
            continue
        plural = "refund" if count == 1 else "refunds"
        text = (
            f"{who} {count} {plural} {_ENDED[outcome]} in the last {rules.lookback_days} days "
            f"({count} × {each} points"
        )
        given = min(count * each, left)
        left -= given
        if given == count * each:
            text += ")"
        elif given:
            text += f", capped to {given}: the {kind}'s history adds at most {points.max_points})"
        else:
            text += f"; not scored: the {kind}'s history is at its maximum, {points.max_points})"
        found.append(RiskReason(f"{kind}.{_CODES[outcome]}", given, text))
    return found
