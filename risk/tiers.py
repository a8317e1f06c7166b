"""Building blocks of the rules file: value types and tier ladders ("at least X → N points")."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from decimal import Decimal
from itertools import pairwise
from typing import Annotated, TypeVar

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field

__all__ = [
    "AgeTier",
    "AgeTiers",
    "AmountTier",
    "AmountTiers",
    "CountTier",
    "CountTiers",
    "Currency",
    "Money",
    "Points",
    "RatioTier",
    "RatioTiers",
    "StrictModel",
    "worst_tier",
]


def _currency_code(value: str) -> str:
    if len(value) != 3 or not value.isascii() or not value.isalpha() or not value.isupper():
        raise ValueError(f"{value!r} is not a currency code: use ISO 4217 capitals such as CNY")
    return value


def _no_float(value: object) -> object:
    # YAML reads 199.99 as a binary float; thresholds are money, so ask for text instead.
    if isinstance(value, float | bool):
        raise ValueError(f'write amounts as quoted decimal strings such as "500.00", not {value!r}')
    return value


Currency = Annotated[str, AfterValidator(_currency_code)]
Money = Annotated[
    Decimal, BeforeValidator(_no_float), Field(gt=0, allow_inf_nan=False, max_digits=18)
]
Points = Annotated[int, Field(strict=True, ge=0, le=100)]


class StrictModel(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class _Tier(StrictModel):
    points: Points

    @property
    def severity(self) -> Decimal:
        """Higher is more severe."""
        raise NotImplementedError

    @property
    def bound(self) -> str:
        """The tier as written, for error messages: 'at_least 500'."""
        return " ".join(f"{key} {value}" for key, value in self if key != "points")


class AmountTier(_Tier):
    at_least: Money

    @property
    def severity(self) -> Decimal:
        return self.at_least


class RatioTier(_Tier):
    # A ratio, not money: 2.5 is fine as a YAML number.
    at_least: Annotated[Decimal, Field(ge=1, allow_inf_nan=False)]

    @property
    def severity(self) -> Decimal:
        return self.at_least


class CountTier(_Tier):
    at_least: Annotated[int, Field(strict=True, ge=1)]

    @property
    def severity(self) -> Decimal:
        return Decimal(self.at_least)


class AgeTier(_Tier):
    at_most: Annotated[int, Field(strict=True, ge=0)]

    @property
    def severity(self) -> Decimal:
        return Decimal(-self.at_most)  # the younger the account, the more severe


TierT = TypeVar("TierT", bound=_Tier)


def _mildest_first(tiers: Sequence[TierT]) -> Sequence[TierT]:
    """Tiers read like a ladder; `worst_tier` relies on the last matching tier being the worst."""
    for before, after in pairwise(tiers):
        if after.severity <= before.severity:
            raise ValueError(
                f"list tiers from the mildest to the most severe: {after.bound} cannot follow "
                f"{before.bound}"
            )
        if after.points < before.points:
            raise ValueError(
                f"a more severe tier cannot give fewer points: {after.bound} gives "
                f"{after.points}, {before.bound} gives {before.points}"
            )
    return tiers


def worst_tier(tiers: Sequence[TierT], matches: Callable[[TierT], bool]) -> TierT | None:
    """The most severe tier that matches (tiers are validated mildest first), or None."""
    return next((tier for tier in reversed(tiers) if matches(tier)), None)


AmountTiers = Annotated[list[AmountTier], Field(min_length=1), AfterValidator(_mildest_first)]
RatioTiers = Annotated[list[RatioTier], AfterValidator(_mildest_first)]
CountTiers = Annotated[list[CountTier], AfterValidator(_mildest_first)]
AgeTiers = Annotated[list[AgeTier], AfterValidator(_mildest_first)]
