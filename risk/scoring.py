"""Scoring a refund against the rules. Pure: the same input always gives the same answer."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from risk.rules import CountTier, RiskLevel, RiskRules
from risk.signals import RefundSignals

__all__ = ["RiskAssessmentResult", "RiskInput", "RiskReason", "assess"]


@dataclass(frozen=True)
class RiskReason:
    code: str
    points: int
    text: str


@dataclass(frozen=True)
class RiskInput:
    amount: Decimal
    currency: str
    signals: RefundSignals
    merchant_typical_amount: Decimal | None


@dataclass(frozen=True)
class RiskAssessmentResult:
    score: int
    level: RiskLevel
    reasons: tuple[RiskReason, ...]
    tracked: bool
    rules_version: str


def _money(amount: Decimal, currency: str) -> str:
    return f"{amount:,.2f} {currency}"


def _top_tier(value: int | None, tiers: list[CountTier]) -> CountTier | None:
    if value is None:
        return None
    hits = [tier for tier in tiers if value >= tier.at_least]
    return max(hits, key=lambda tier: tier.at_least, default=None)


def _amount_reasons(item: RiskInput, rules: RiskRules) -> list[RiskReason]:
    reasons: list[RiskReason] = []
    tiers = rules.amount.absolute.get(item.currency)
    if tiers:
        hits = [tier for tier in tiers if item.amount >= tier.at_least]
        if hits:
            tier = max(hits, key=lambda t: t.at_least)
            reasons.append(
                RiskReason(
                    "amount.absolute",
                    tier.points,
                    f"amount {_money(item.amount, item.currency)} is at least "
                    f"{_money(tier.at_least, item.currency)}",
                )
            )
    elif rules.amount.absolute:
        reasons.append(
            RiskReason(
                "amount.no_threshold",
                0,
                f"no absolute thresholds for {item.currency}: scored on the merchant-relative rule",
            )
        )
    typical = item.merchant_typical_amount
    if rules.amount.relative_to_typical:
        if typical is None or typical <= 0:
            reasons.append(
                RiskReason("amount.no_history", 0, "no refund history for this merchant yet")
            )
        else:
            ratio = item.amount / typical
            ratio_hits = [t for t in rules.amount.relative_to_typical if ratio >= t.at_least]
            if ratio_hits:
                ratio_tier = max(ratio_hits, key=lambda t: t.at_least)
                reasons.append(
                    RiskReason(
                        "amount.relative",
                        ratio_tier.points,
                        f"amount {_money(item.amount, item.currency)} is {ratio:.1f}× the "
                        f"merchant's typical refund ({_money(typical, item.currency)})",
                    )
                )
    return reasons


def _signal_reasons(signals: RefundSignals, rules: RiskRules) -> list[RiskReason]:
    found: list[RiskReason] = []
    s = rules.signals
    tier = _top_tier(signals.buyer_refund_count, s.buyer_refund_count)
    if tier:
        found.append(
            RiskReason(
                "buyer.refund_count",
                tier.points,
                f"buyer requested {signals.buyer_refund_count} refunds in 90 days",
            )
        )
    age = signals.buyer_account_age_days
    if age is not None:
        young = [t for t in s.buyer_account_age if age <= t.at_most_days]
        if young:
            best = min(young, key=lambda t: t.at_most_days)
            found.append(
                RiskReason("buyer.account_age", best.points, f"buyer account is {age} days old")
            )
    tier = _top_tier(signals.device_shared_accounts, s.device_shared_accounts)
    if tier:
        found.append(
            RiskReason(
                "buyer.shared_device",
                tier.points,
                f"buyer's device is shared by {signals.device_shared_accounts} accounts",
            )
        )
    for anomaly in dict.fromkeys(signals.logistics):
        points = s.logistics.get(anomaly, 0)
        if points:
            label = anomaly.value.replace("_", " ")
            found.append(RiskReason(f"logistics.{anomaly.value}", points, f"logistics: {label}"))
    if signals.refund_only_after_delivery and s.refund_only_after_delivery:
        found.append(
            RiskReason(
                "refund_only_after_delivery",
                s.refund_only_after_delivery,
                "refund without return requested after delivery",
            )
        )
    tier = _top_tier(signals.repeat_requests, s.repeat_requests)
    if tier:
        found.append(
            RiskReason(
                "order.repeat_requests",
                tier.points,
                f"refund requested {signals.repeat_requests} times for this order",
            )
        )
    return found


def _level(score: int, rules: RiskRules) -> RiskLevel:
    if score >= rules.levels.critical:
        return RiskLevel.CRITICAL
    if score >= rules.levels.high:
        return RiskLevel.HIGH
    if score >= rules.levels.medium:
        return RiskLevel.MEDIUM
    return RiskLevel.LOW


def assess(item: RiskInput, rules: RiskRules) -> RiskAssessmentResult:
    reasons = _amount_reasons(item, rules) + _signal_reasons(item.signals, rules)
    score = min(100, sum(reason.points for reason in reasons))
    level = _level(score, rules)
    tracked = level.rank >= rules.track_from.rank
    floor = rules.amount.always_track_at_or_above.get(item.currency)
    if floor is not None and item.amount >= floor:
        if not tracked:
            reasons.append(
                RiskReason(
                    "amount.always_track",
                    0,
                    f"amounts of {_money(floor, item.currency)} or more are always tracked",
                )
            )
        tracked = True
    ordered = tuple(sorted(reasons, key=lambda r: -r.points))
    return RiskAssessmentResult(score, level, ordered, tracked, rules.version)
