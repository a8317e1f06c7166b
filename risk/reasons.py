"""One reason the risk gate gives for its score: a stable code, its points, a sentence."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["RiskReason"]


@dataclass(frozen=True)
class RiskReason:
    code: str  # stable, e.g. "amount.relative", "logistics.empty_package"
    points: int  # 0 for a reason that explains a rule that did not score
    text: str  # for people: says concretely why, with the numbers
