"""Amount rules: absolute tiers per currency, and the ratio to the merchant's typical refund."""

from __future__ import annotations

from risk.reasons import RiskReason
from risk.results import RiskInput
from risk.rules import RiskRules
from risk.text import money, times
from risk.tiers import worst_tier

__all__ = ["always_track_reason", "amount_reasons"]


def amount_reasons(item: RiskInput, rules: RiskRules) -> list[RiskReason]:
    return _absolute(item, rules) + _relative(item, rules)


def _absolute(item: RiskInput, rules: RiskRules) -> list[RiskReason]:
    if not rules.amount.absolute:
        return []  # the rule is switched off, not a gap for this currency
    amount, currency = item.amount, item.currency
    tiers = rules.amount.absolute.get(currency.upper())
    if tiers is None:
        return [
            RiskReason(
                "amount.no_threshold",
                0,
                f"no absolute amount tiers for {currency}: {money(amount, currency)} is scored "
                "on the merchant-relative rule only",
            )
        ]
    tier = worst_tier(tiers, lambda t: amount >= t.at_least)
    if tier is None:
        return []
    return [
        RiskReason(
            "amount.absolute",
            tier.points,
            f"amount {money(amount, currency)} is at or above the "
            f"{money(tier.at_least, currency)} tier",
        )
    ]


def _relative(item: RiskInput, rules: RiskRules) -> list[RiskReason]:
    rule = rules.amount.relative_to_typical
    if not rule.tiers:
        return []
    amount, currency, typical = item.amount, item.currency, item.merchant_typical_amount
    floor = rule.min_amount.get(currency.upper())
    if typical is None or typical <= 0:
        if floor is not None and amount < floor:
            return []  # the rule would not apply to so small a refund anyway
        return [
            RiskReason(
                "amount.no_history",
                0,
                f"the merchant has no refund history in {currency}: the relative-amount rule "
                "was skipped",
            )
        ]
    ratio = amount / typical
    tier = worst_tier(rule.tiers, lambda t: ratio >= t.at_least)
    if tier is None:
        return []
    compared = (
        f"amount {money(amount, currency)} is {times(ratio)} the merchant's typical refund "
        f"({money(typical, currency)})"
    )
    if floor is not None and amount < floor:
        return [
            RiskReason(
                "amount.relative_below_minimum",
                0,
                f"{compared}, not scored: the relative rule starts at {money(floor, currency)}",
            )
        ]
    return [RiskReason("amount.relative", tier.points, compared)]


def always_track_reason(item: RiskInput, rules: RiskRules) -> RiskReason | None:
    floor = rules.always_track_at_or_above.get(item.currency.upper())
    if floor is None or item.amount < floor:
        return None
    return RiskReason(
        "amount.always_track",
        0,
        f"amount {money(item.amount, item.currency)} is at or above "
        f"{money(floor, item.currency)}, which is always tracked",
    )
