"""Abnormal signals about the buyer, the device, the parcel and the order."""

from __future__ import annotations

from collections.abc import Callable

from risk.reasons import RiskReason
from risk.rules import SignalRules
from risk.signals import LogisticsAnomaly, RefundSignals
from risk.tiers import CountTier, worst_tier

__all__ = ["signal_reasons"]

_LOGISTICS_TEXT = {
    LogisticsAnomaly.NO_TRACKING: "the return has no tracking number",
    LogisticsAnomaly.EMPTY_PACKAGE: "the returned package arrived empty",
    LogisticsAnomaly.SWAPPED_ITEM: "the returned item is not the one that was sold",
    LogisticsAnomaly.WEIGHT_MISMATCH: "the return's weight does not match the item sold",
    LogisticsAnomaly.RETURN_NOT_RECEIVED: "the return was not received",
}


def signal_reasons(signals: RefundSignals, rules: SignalRules) -> list[RiskReason]:
    found = [
        _counted(
            "buyer.refund_count",
            signals.buyer_refund_count,
            rules.buyer_refund_count,
            lambda n: f"the buyer requested {n} refunds in the last 90 days",
        ),
        _young_account(signals.buyer_account_age_days, rules),
        _counted(
            "buyer.shared_device",
            signals.device_shared_accounts,
            rules.device_shared_accounts,
            lambda n: f"{n} accounts were seen on the buyer's device",
        ),
        *_logistics(signals.logistics, rules),
        _refund_only(signals.refund_only_after_delivery, rules),
        _counted(
            "order.repeat_requests",
            signals.repeat_requests,
            rules.repeat_requests,
            lambda n: f"a refund was requested {n} times for this order",
        ),
    ]
    return [reason for reason in found if reason is not None]


def _counted(
    code: str, value: int | None, tiers: list[CountTier], describe: Callable[[int], str]
) -> RiskReason | None:
    if value is None:
        return None
    tier = worst_tier(tiers, lambda t: value >= t.at_least)
    if tier is None:
        return None
    return RiskReason(code, tier.points, f"{describe(value)} (tier: {tier.at_least} or more)")


def _young_account(age: int | None, rules: SignalRules) -> RiskReason | None:
    if age is None:
        return None
    tier = worst_tier(rules.buyer_account_age_days, lambda t: age <= t.at_most)
    if tier is None:
        return None
    return RiskReason(
        "buyer.account_age",
        tier.points,
        f"the buyer's account is {age} days old (tier: {tier.at_most} days or less)",
    )


def _logistics(anomalies: list[LogisticsAnomaly], rules: SignalRules) -> list[RiskReason]:
    found: list[RiskReason] = []
    for anomaly in dict.fromkeys(anomalies):  # the same anomaly reported twice counts once
        points = rules.logistics.get(anomaly, 0)
        text = _LOGISTICS_TEXT[anomaly]
        if not points:
            # Still listed: support should see the report even if these rules ignore it.
            text += " (these rules give it no points)"
        found.append(RiskReason(f"logistics.{anomaly.value}", points, text))
    return found


def _refund_only(requested: bool, rules: SignalRules) -> RiskReason | None:
    if not requested or not rules.refund_only_after_delivery:
        return None
    return RiskReason(
        "refund_only_after_delivery",
        rules.refund_only_after_delivery,
        "a refund without returning the goods was requested after delivery",
    )
