"""What goes into an assessment and what comes out: small frozen dataclasses, no I/O."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING

from risk.levels import RiskLevel
from risk.signals import RefundSignals

if TYPE_CHECKING:  # risk.buyer_history builds RiskReasons: a runtime import would be circular
    from risk.buyer_history import BuyerHistory

__all__ = ["RiskAssessmentResult", "RiskInput", "RiskReason"]


@dataclass(frozen=True)
class RiskReason:
    code: str  # stable, e.g. "amount.relative", "logistics.empty_package"
    points: int  # 0 for a reason that explains a rule that did not score
    text: str  # for people: says concretely why, with the numbers


@dataclass(frozen=True)
class RiskInput:
    amount: Decimal  # major units, e.g. Decimal("2400.00")
    currency: str  # ISO 4217, e.g. "CNY"
    signals: RefundSignals
    # Typical (median) refund of this merchant in this currency; None if there is no history.
    merchant_typical_amount: Decimal | None
    # Outcomes of the buyer's / device's earlier refunds; None when not looked up.
    history: BuyerHistory | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.amount, Decimal) or not self.amount.is_finite() or self.amount < 0:
            raise ValueError(f"amount must be a finite, non-negative Decimal, not {self.amount!r}")


@dataclass(frozen=True)
class RiskAssessmentResult:
    score: int  # sum of the reasons' points, capped at 100
    level: RiskLevel
    reasons: tuple[RiskReason, ...]  # most points first
    tracked: bool
    rules_version: str
