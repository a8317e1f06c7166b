"""Risk levels. A StrEnum compares as text ("critical" < "low"), so order by `rank` instead."""

from __future__ import annotations

from enum import StrEnum

__all__ = ["RiskLevel"]


class RiskLevel(StrEnum):
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"
    CRITICAL = "critical"

    @property
    def rank(self) -> int:
        """0 for LOW up to 3 for CRITICAL: `a.rank >= b.rank` means "a is at least as risky"."""
        return _RANKS[self]

    def at_least(self, other: RiskLevel) -> bool:
        return self.rank >= other.rank


_RANKS = {level: rank for rank, level in enumerate(RiskLevel)}
