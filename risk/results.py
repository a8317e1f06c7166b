"""What goes into an assessment and what comes out: small frozen dataclasses, no I/O."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from risk.buyer_history import BuyerHistory
from risk.levels import RiskLevel
from risk.reasons import RiskReason
from risk.signals import RefundSignals

__all__ = ["RiskAssessmentResult", "RiskInput"]


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
