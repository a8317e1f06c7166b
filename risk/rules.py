"""The risk rules file: YAML, validated at load, errors naming the file and the field."""

from __future__ import annotations

from decimal import Decimal
from enum import StrEnum
from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from risk.signals import LogisticsAnomaly

__all__ = [
    "AmountTier",
    "CountTier",
    "RatioTier",
    "RiskLevel",
    "RiskRules",
    "RiskRulesError",
    "load_rules",
]


class RiskLevel(StrEnum):
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"
    CRITICAL = "critical"

    @property
    def rank(self) -> int:
        return list(RiskLevel).index(self)


class RiskRulesError(ValueError):
    pass


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class AmountTier(_Strict):
    at_least: Decimal = Field(gt=0)
    points: int = Field(ge=0, le=100)


class RatioTier(_Strict):
    at_least: Decimal = Field(gt=0, description="amount ÷ the merchant's typical refund")
    points: int = Field(ge=0, le=100)


class CountTier(_Strict):
    at_least: int = Field(ge=0)
    points: int = Field(ge=0, le=100)


class AgeTier(_Strict):
    at_most_days: int = Field(ge=0)
    points: int = Field(ge=0, le=100)


class Levels(_Strict):
    medium: int = Field(ge=1, le=100)
    high: int = Field(ge=1, le=100)
    critical: int = Field(ge=1, le=100)

    @model_validator(mode="after")
    def _ordered(self) -> Levels:
        if not self.medium < self.high < self.critical:
            raise ValueError("levels must rise: medium < high < critical")
        return self


class AmountRules(_Strict):
    absolute: dict[str, list[AmountTier]] = Field(default_factory=dict)
    relative_to_typical: list[RatioTier] = Field(default_factory=list)
    always_track_at_or_above: dict[str, Decimal] = Field(default_factory=dict)


class SignalRules(_Strict):
    buyer_refund_count: list[CountTier] = Field(default_factory=list)
    buyer_account_age: list[AgeTier] = Field(default_factory=list)
    device_shared_accounts: list[CountTier] = Field(default_factory=list)
    logistics: dict[LogisticsAnomaly, int] = Field(default_factory=dict)
    refund_only_after_delivery: int = Field(0, ge=0, le=100)
    repeat_requests: list[CountTier] = Field(default_factory=list)


class RiskRules(_Strict):
    version: str = Field(min_length=1, max_length=64)
    levels: Levels
    track_from: RiskLevel = RiskLevel.MEDIUM
    amount: AmountRules = AmountRules()
    signals: SignalRules = SignalRules()

    @model_validator(mode="after")
    def _currencies(self) -> RiskRules:
        for code in [*self.amount.absolute, *self.amount.always_track_at_or_above]:
            if len(code) != 3 or not code.isupper():
                raise ValueError(f"{code!r} is not an ISO currency code such as CNY")
        return self


def load_rules(path: Path) -> RiskRules:
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
        return RiskRules.model_validate(raw)
    except OSError as exc:
        raise RiskRulesError(f"{path}: cannot read the risk rules ({exc.strerror})") from None
    except yaml.YAMLError as exc:
        raise RiskRulesError(f"{path}: not valid YAML: {exc}") from None
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or '(file)'}: {err['msg']}"
            for err in exc.errors()
        )
        raise RiskRulesError(f"{path}: {problems}") from None
