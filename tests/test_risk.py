"""The risk gate: tiers, relative amounts, signals, levels, tracking, and rules-file validation."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from risk import RefundSignals, RiskInput, RiskLevel, RiskRulesError, assess, load_rules

RULES = load_rules(Path(__file__).parents[1] / "config" / "risk_rules.default.yaml")


def _assess(amount: str, currency: str = "CNY", typical: str | None = None, **signals: object):  # type: ignore[no-untyped-def]
    return assess(
        RiskInput(
            Decimal(amount),
            currency,
            RefundSignals.model_validate(signals),
            Decimal(typical) if typical else None,
        ),
        RULES,
    )


def test_small_normal_refund_is_low_and_untracked() -> None:
    result = _assess("49.00", typical="60")
    assert (result.score, result.level, result.tracked) == (0, RiskLevel.LOW, False)


def test_highest_absolute_tier_applies_once() -> None:
    assert _assess("600").score < _assess("2500").score < _assess("12000").score
    codes = [r.code for r in _assess("12000").reasons]
    assert codes.count("amount.absolute") == 1


def test_large_relative_to_merchant_is_tracked_with_a_concrete_reason() -> None:
    result = _assess("3000.00", typical="200")
    assert result.tracked
    relative = next(r for r in result.reasons if r.code == "amount.relative")
    assert "15.0×" in relative.text and "200.00 CNY" in relative.text


def test_relative_rule_without_history_says_so() -> None:
    result = _assess("3000.00")
    assert any(r.code == "amount.no_history" and r.points == 0 for r in result.reasons)
    assert result.score < _assess("3000.00", typical="200").score


def test_unknown_currency_uses_only_the_relative_rule() -> None:
    result = _assess("900000", currency="KRW", typical="10000")
    codes = {r.code for r in result.reasons}
    assert "amount.no_threshold" in codes and "amount.relative" in codes
    assert "amount.absolute" not in codes


def test_abnormal_signals_add_up_and_are_explained() -> None:
    result = _assess(
        "300",
        buyer_refund_count=12,
        buyer_account_age_days=2,
        device_shared_accounts=4,
        logistics=["empty_package", "no_tracking"],
        refund_only_after_delivery=True,
        repeat_requests=2,
    )
    codes = {r.code for r in result.reasons}
    assert {
        "buyer.refund_count",
        "buyer.account_age",
        "buyer.shared_device",
        "logistics.empty_package",
        "logistics.no_tracking",
        "refund_only_after_delivery",
        "order.repeat_requests",
    } <= codes
    assert result.score == 100, "the score is capped at 100"
    assert result.level == RiskLevel.CRITICAL
    points = [r.points for r in result.reasons]
    assert points == sorted(points, reverse=True)
    assert any("12 refunds" in r.text for r in result.reasons)


def test_level_thresholds_and_tracking_follow_the_file() -> None:
    assert _assess("100", logistics=["no_tracking"]).level == RiskLevel.LOW
    medium = _assess("100", logistics=["empty_package"])
    assert medium.level == RiskLevel.MEDIUM and medium.tracked


def test_always_track_floor_tracks_a_huge_plain_refund() -> None:
    rules = RULES.model_copy(update={"track_from": RiskLevel.CRITICAL})
    result = assess(RiskInput(Decimal("25000"), "CNY", RefundSignals(), Decimal("30000")), rules)
    assert result.level != RiskLevel.CRITICAL and result.tracked
    assert any(r.code == "amount.always_track" for r in result.reasons)


def test_bad_rules_file_names_the_field(tmp_path: Path) -> None:
    bad = tmp_path / "rules.yaml"
    bad.write_text(
        "version: x\nlevels: {medium: 50, high: 40, critical: 90}\n"
        "signals: {logistics: {teleported: 10}}\n"
    )
    with pytest.raises(RiskRulesError) as err:
        load_rules(bad)
    message = str(err.value)
    assert str(bad) in message
    assert "levels" in message and "medium < high < critical" in message
    assert "signals.logistics.teleported" in message


def test_missing_rules_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(RiskRulesError, match="cannot read"):
        load_rules(tmp_path / "nope.yaml")
