"""The risk rules file: YAML, validated at load, errors naming the file and the field path.

The format is documented in docs/risk-rules.md; config/risk_rules.default.yaml is the default.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any

import yaml
from pydantic import ConfigDict, Field, StringConstraints, ValidationError, model_validator
from pydantic_core import ErrorDetails

from risk.levels import RiskLevel
from risk.signals import LogisticsAnomaly
from risk.tiers import (
    AgeTiers,
    AmountTiers,
    CountTiers,
    Currency,
    Money,
    Points,
    RatioTiers,
    StrictModel,
)

__all__ = [
    "AmountRules",
    "HistoryRules",
    "Levels",
    "RelativeAmountRule",
    "RiskRules",
    "RiskRulesError",
    "SignalRules",
    "SubjectHistoryRules",
    "load_rules",
]


class RiskRulesError(ValueError):
    """The rules file is missing, not YAML, or invalid; the message names the file and field."""


class Levels(StrictModel):
    """Score cut-offs: a score at or above a cut-off has that level; below `medium` is low."""

    medium: Annotated[int, Field(strict=True, ge=1, le=100)]
    high: Annotated[int, Field(strict=True, ge=1, le=100)]
    critical: Annotated[int, Field(strict=True, ge=1, le=100)]

    @model_validator(mode="after")
    def _rising(self) -> Levels:
        if not self.medium < self.high < self.critical:
            raise ValueError(
                "cut-offs must rise: medium < high < critical "
                f"(got {self.medium}, {self.high}, {self.critical})"
            )
        return self

    def level_for(self, score: int) -> RiskLevel:
        if score >= self.critical:
            return RiskLevel.CRITICAL
        if score >= self.high:
            return RiskLevel.HIGH
        if score >= self.medium:
            return RiskLevel.MEDIUM
        return RiskLevel.LOW


class RelativeAmountRule(StrictModel):
    """Amount ÷ the merchant's typical (median) refund in the same currency."""

    tiers: RatioTiers = Field(default_factory=list)
    # Below this amount the ratio is not scored: a 60 CNY refund at a 5 CNY shop is no risk.
    min_amount: dict[Currency, Money] = Field(default_factory=dict)


class AmountRules(StrictModel):
    absolute: dict[Currency, AmountTiers] = Field(default_factory=dict)
    relative_to_typical: RelativeAmountRule = Field(default_factory=RelativeAmountRule)


class SignalRules(StrictModel):
    """One entry per field of RefundSignals, under the same name."""

    buyer_refund_count: CountTiers = Field(default_factory=list)
    buyer_account_age_days: AgeTiers = Field(default_factory=list)
    device_shared_accounts: CountTiers = Field(default_factory=list)
    logistics: dict[LogisticsAnomaly, Points] = Field(default_factory=dict)
    refund_only_after_delivery: Points = 0
    repeat_requests: CountTiers = Field(default_factory=list)


class SubjectHistoryRules(StrictModel):
    """Points per earlier refund of this buyer (or device) that ended in each way."""

    dispute_upheld: Points = 0
    refund_rejected: Points = 0
    evidence_missed: Points = 0
    timed_out: Points = 0
    handled: Points = 0
    # However long the history, it adds at most this much (a serial refunder is already high).
    max_points: Points = 100

    def points_for(self, outcome: str) -> int:
        points: int = getattr(self, outcome)
        return points

    @property
    def scores_anything(self) -> bool:
        return self.max_points > 0 and any(points for name, points in self if name != "max_points")


class HistoryRules(StrictModel):
    """Outcomes of the buyer's and the device's earlier refunds (risk feedback)."""

    lookback_days: Annotated[int, Field(strict=True, ge=1, le=3650)] = 180
    buyer: SubjectHistoryRules = Field(default_factory=SubjectHistoryRules)
    device: SubjectHistoryRules = Field(default_factory=SubjectHistoryRules)

    @property
    def scores_anything(self) -> bool:
        """False when the section is absent or all zero: intake then skips the history query."""
        return self.buyer.scores_anything or self.device.scores_anything

    def since(self, now: datetime) -> datetime:
        """Outcomes recorded at or after this moment count."""
        return now - timedelta(days=self.lookback_days)


class RiskRules(StrictModel):
    model_config = ConfigDict(coerce_numbers_to_str=True)  # `version: 3` is fine

    # Stored with every assessment (risk_assessments.rules_version is 64 characters).
    version: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64)]
    levels: Levels
    track_from: RiskLevel = RiskLevel.MEDIUM
    always_track_at_or_above: dict[Currency, Money] = Field(default_factory=dict)
    amount: AmountRules = Field(default_factory=AmountRules)
    signals: SignalRules = Field(default_factory=SignalRules)
    history: HistoryRules = Field(default_factory=HistoryRules)


def load_rules(path: Path) -> RiskRules:
    """Read and validate a rules file; every problem is a RiskRulesError naming the file."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise RiskRulesError(f"{path}: cannot read the risk rules ({exc.strerror})") from None
    except UnicodeDecodeError:
        raise RiskRulesError(f"{path}: the risk rules must be UTF-8 text") from None
    try:
        raw: Any = yaml.safe_load(text)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        where = f", line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise RiskRulesError(f"{path}{where}: not valid YAML: {exc.problem}") from None
    except yaml.YAMLError as exc:
        raise RiskRulesError(f"{path}: not valid YAML: {exc}") from None
    if not isinstance(raw, dict):
        raise RiskRulesError(
            f"{path}: the risk rules must be a YAML mapping with at least `version` and `levels`"
        )
    try:
        return RiskRules.model_validate(raw)
    except ValidationError as exc:
        problems = "\n  ".join(_describe(error) for error in exc.errors())
        raise RiskRulesError(f"{path}: invalid risk rules\n  {problems}") from None


def _describe(error: ErrorDetails) -> str:
    """'amount.absolute.CNY[1].points: Input should be less than or equal to 100 (got 120)'."""
    where = ""
    for part in error["loc"]:
        if isinstance(part, int):
            where += f"[{part}]"
        elif part == "[key]":
            where += " (key)"
        else:
            where += f".{part}" if where else str(part)
    message = error["msg"].removeprefix("Value error, ")
    given = error.get("input")
    scalar = isinstance(given, str | int | float | bool | Decimal)
    if error["type"] != "missing" and scalar and repr(given) not in message:
        message += f" (got {given!r})"
    return f"{where or '(top level)'}: {message}"
