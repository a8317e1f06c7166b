"""The risk gate: amount and signal tiers, the cap, levels and tracking, rules-file validation.

Mechanism tests use a small rules file written here (distinct points per rule, so each rule's
share of a score is visible); the default file is tested for the promises it makes to users.
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from risk import (
    LogisticsAnomaly,
    RefundSignals,
    RiskAssessmentResult,
    RiskInput,
    RiskLevel,
    RiskReason,
    RiskRules,
    RiskRulesError,
    assess,
    load_rules,
)
from risk.rules import Levels

ROOT = Path(__file__).parents[1]
DEFAULT_RULES = ROOT / "config" / "risk_rules.default.yaml"

TEST_RULES = """
version: test-rules-7
levels: {medium: 20, high: 40, critical: 60}
track_from: medium
always_track_at_or_above: {CNY: "50000"}
amount:
  absolute:
    CNY: [{at_least: "100", points: 5}, {at_least: "1000", points: 10}]
  relative_to_typical:
    tiers: [{at_least: 2, points: 3}, {at_least: "5.5", points: 7}]
    min_amount: {CNY: "50"}
signals:
  buyer_refund_count: [{at_least: 3, points: 2}, {at_least: 6, points: 4}]
  buyer_account_age_days: [{at_most: 30, points: 1}, {at_most: 7, points: 6}]
  device_shared_accounts: [{at_least: 2, points: 8}]
  logistics: {empty_package: 11, swapped_item: 12, no_tracking: 13, weight_mismatch: 14}
  refund_only_after_delivery: 9
  repeat_requests: [{at_least: 2, points: 15}]
"""


@pytest.fixture(scope="module")
def rules(tmp_path_factory: pytest.TempPathFactory) -> RiskRules:
    path = tmp_path_factory.mktemp("rules") / "risk_rules.yaml"
    path.write_text(TEST_RULES, encoding="utf-8")
    return load_rules(path)


@pytest.fixture(scope="module")
def default_rules() -> RiskRules:
    return load_rules(DEFAULT_RULES)


def _assess(
    rules: RiskRules,
    amount: str,
    currency: str = "CNY",
    typical: str | None = None,
    **signals: Any,
) -> RiskAssessmentResult:
    item = RiskInput(
        amount=Decimal(amount),
        currency=currency,
        signals=RefundSignals.model_validate(signals),
        merchant_typical_amount=None if typical is None else Decimal(typical),
    )
    return assess(item, rules)


def _reason(result: RiskAssessmentResult, code: str) -> RiskReason | None:
    found = [reason for reason in result.reasons if reason.code == code]
    assert len(found) <= 1, f"{code} given more than once: {found}"
    return found[0] if found else None


def _points(result: RiskAssessmentResult, code: str) -> int | None:
    reason = _reason(result, code)
    return None if reason is None else reason.points


# --- amount -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("amount", "points"),
    [("99.99", None), ("100", 5), ("999.99", 5), ("1000.00", 10), ("49999", 10)],
)
def test_highest_absolute_tier_reached_counts_once(
    rules: RiskRules, amount: str, points: int | None
) -> None:
    result = _assess(rules, amount)
    assert _points(result, "amount.absolute") == points
    assert result.score == (points or 0)


def test_absolute_reason_names_the_amount_and_the_tier(rules: RiskRules) -> None:
    reason = _reason(_assess(rules, "1234.5"), "amount.absolute")
    assert reason is not None
    assert "1,234.50 CNY" in reason.text
    assert "1,000.00 CNY" in reason.text


@pytest.mark.parametrize(
    ("amount", "typical", "points"),
    [("199", "100", None), ("200", "100", 3), ("549.99", "100", 3), ("550", "100", 7)],
)
def test_relative_tiers_compare_with_the_merchants_typical_refund(
    rules: RiskRules, amount: str, typical: str, points: int | None
) -> None:
    assert _points(_assess(rules, amount, typical=typical), "amount.relative") == points


def test_relative_reason_gives_the_ratio_and_the_typical_amount(rules: RiskRules) -> None:
    reason = _reason(_assess(rules, "2400", typical="500"), "amount.relative")
    assert reason is not None
    assert "4.8×" in reason.text
    assert "500.00 CNY" in reason.text
    assert "2,400.00 CNY" in reason.text


def test_without_history_the_relative_rule_is_skipped_with_a_reason(rules: RiskRules) -> None:
    without = _assess(rules, "900")
    skipped = _reason(without, "amount.no_history")
    assert skipped is not None
    assert skipped.points == 0
    assert "CNY" in skipped.text
    assert _reason(without, "amount.relative") is None
    assert without.score < _assess(rules, "900", typical="100").score


def test_a_zero_typical_amount_counts_as_no_history(rules: RiskRules) -> None:
    assert _reason(_assess(rules, "900", typical="0"), "amount.no_history") is not None


def test_relative_rule_ignores_refunds_below_its_minimum_and_says_so(rules: RiskRules) -> None:
    small = _assess(rules, "49", typical="1")
    assert small.score == 0
    reason = _reason(small, "amount.relative_below_minimum")
    assert reason is not None
    assert reason.points == 0
    assert "49.0×" in reason.text
    assert "50.00 CNY" in reason.text
    # no history on a refund the rule would not look at anyway: nothing to explain
    assert _assess(rules, "49").reasons == ()


def test_unknown_currency_is_scored_on_the_relative_rule_only(rules: RiskRules) -> None:
    result = _assess(rules, "900000", currency="KRW", typical="100000")
    gap = _reason(result, "amount.no_threshold")
    assert gap is not None
    assert gap.points == 0
    assert "KRW" in gap.text
    assert _reason(result, "amount.absolute") is None
    assert _points(result, "amount.relative") == 7
    assert result.score == 7
    # JPY-style currencies have no minor unit: no ".00" in the text
    assert "900,000 KRW" in gap.text


def test_unknown_currency_without_history_scores_nothing_on_amount(rules: RiskRules) -> None:
    result = _assess(rules, "900000", currency="KRW")
    assert result.score == 0
    assert {r.code for r in result.reasons} == {"amount.no_threshold", "amount.no_history"}


# --- signals ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("signals", "code", "points"),
    [
        ({"buyer_refund_count": 2}, "buyer.refund_count", None),
        ({"buyer_refund_count": 3}, "buyer.refund_count", 2),
        ({"buyer_refund_count": 6}, "buyer.refund_count", 4),
        ({"buyer_account_age_days": 31}, "buyer.account_age", None),
        ({"buyer_account_age_days": 30}, "buyer.account_age", 1),
        ({"buyer_account_age_days": 7}, "buyer.account_age", 6),
        ({"buyer_account_age_days": 0}, "buyer.account_age", 6),
        ({"device_shared_accounts": 1}, "buyer.shared_device", None),
        ({"device_shared_accounts": 2}, "buyer.shared_device", 8),
        ({"logistics": ["empty_package"]}, "logistics.empty_package", 11),
        ({"logistics": ["swapped_item"]}, "logistics.swapped_item", 12),
        ({"logistics": ["no_tracking"]}, "logistics.no_tracking", 13),
        ({"logistics": ["weight_mismatch"]}, "logistics.weight_mismatch", 14),
        ({"refund_only_after_delivery": False}, "refund_only_after_delivery", None),
        ({"refund_only_after_delivery": True}, "refund_only_after_delivery", 9),
        ({"repeat_requests": 1}, "order.repeat_requests", None),
        ({"repeat_requests": 2}, "order.repeat_requests", 15),
    ],
)
def test_each_signal_tier(
    rules: RiskRules, signals: dict[str, Any], code: str, points: int | None
) -> None:
    result = _assess(rules, "10", **signals)
    assert _points(result, code) == points
    assert result.score == (points or 0)


@pytest.mark.parametrize(
    ("signals", "number"),
    [
        ({"buyer_refund_count": 7}, "7 refunds"),
        ({"buyer_account_age_days": 3}, "3 days"),
        ({"device_shared_accounts": 5}, "5 accounts"),
        ({"repeat_requests": 3}, "3 times"),
    ],
)
def test_signal_reasons_quote_the_observed_number(
    rules: RiskRules, signals: dict[str, Any], number: str
) -> None:
    (reason,) = _assess(rules, "10", **signals).reasons
    assert number in reason.text


def test_unknown_signals_are_not_scored(rules: RiskRules) -> None:
    result = _assess(rules, "10", buyer_refund_count=None, buyer_account_age_days=None)
    assert (result.score, result.reasons) == (0, ())


def test_a_repeated_logistics_report_counts_once(rules: RiskRules) -> None:
    once = _assess(rules, "10", logistics=["empty_package"])
    twice = _assess(rules, "10", logistics=["empty_package", "empty_package"])
    assert twice.score == once.score


def test_an_anomaly_the_rules_do_not_score_is_still_listed(rules: RiskRules) -> None:
    result = _assess(rules, "10", logistics=["return_not_received"])
    reason = _reason(result, "logistics.return_not_received")
    assert reason is not None
    assert reason.points == 0
    assert "no points" in reason.text
    assert result.score == 0


def test_reasons_come_most_points_first(rules: RiskRules) -> None:
    result = _assess(
        rules,
        "1500",
        typical="100",
        buyer_refund_count=3,
        logistics=["no_tracking"],
        repeat_requests=2,
    )
    points = [reason.points for reason in result.reasons]
    assert points == sorted(points, reverse=True)
    assert result.reasons[0].code == "order.repeat_requests"


def test_score_is_capped_at_100_but_every_reason_keeps_its_points(rules: RiskRules) -> None:
    result = _assess(
        rules,
        "1500",
        typical="100",
        buyer_refund_count=6,
        buyer_account_age_days=1,
        device_shared_accounts=9,
        logistics=list(LogisticsAnomaly),
        refund_only_after_delivery=True,
        repeat_requests=5,
    )
    assert sum(reason.points for reason in result.reasons) > 100
    assert result.score == 100
    assert result.level == RiskLevel.CRITICAL


# --- levels and tracking ----------------------------------------------------------------------


def test_levels_are_ordered_by_rank() -> None:
    shuffled = [RiskLevel.HIGH, RiskLevel.LOW, RiskLevel.CRITICAL, RiskLevel.MEDIUM]
    assert sorted(shuffled, key=lambda level: level.rank) == [
        RiskLevel.LOW,
        RiskLevel.MEDIUM,
        RiskLevel.HIGH,
        RiskLevel.CRITICAL,
    ]
    assert RiskLevel.HIGH.at_least(RiskLevel.MEDIUM)
    assert not RiskLevel.LOW.at_least(RiskLevel.MEDIUM)


def test_a_score_at_a_cut_off_takes_that_level(rules: RiskRules) -> None:
    signals: dict[str, Any] = {"device_shared_accounts": 2, "repeat_requests": 2}
    score = _assess(rules, "10", **signals).score
    assert score > 3

    def level_with(medium: int, high: int, critical: int) -> RiskLevel:
        changed = rules.model_copy(
            update={"levels": Levels(medium=medium, high=high, critical=critical)}
        )
        return _assess(changed, "10", **signals).level

    assert level_with(score + 1, score + 2, score + 3) == RiskLevel.LOW
    assert level_with(score, score + 1, score + 2) == RiskLevel.MEDIUM
    assert level_with(score - 1, score, score + 1) == RiskLevel.HIGH
    assert level_with(score - 2, score - 1, score) == RiskLevel.CRITICAL


def test_tracking_starts_at_the_track_from_level(rules: RiskRules) -> None:
    medium = _assess(rules, "10", repeat_requests=2, device_shared_accounts=2)
    assert medium.level == RiskLevel.MEDIUM
    assert medium.tracked
    only_high = rules.model_copy(update={"track_from": RiskLevel.HIGH})
    assert not _assess(only_high, "10", repeat_requests=2, device_shared_accounts=2).tracked
    everything = rules.model_copy(update={"track_from": RiskLevel.LOW})
    assert _assess(everything, "10").tracked


def test_always_track_floor_tracks_a_large_clean_refund(rules: RiskRules) -> None:
    below = _assess(rules, "49999.99", typical="40000")
    assert below.level == RiskLevel.LOW
    assert not below.tracked
    at_floor = _assess(rules, "50000", typical="40000")
    assert at_floor.level == RiskLevel.LOW
    assert at_floor.tracked
    reason = _reason(at_floor, "amount.always_track")
    assert reason is not None
    assert reason.points == 0
    assert "50,000.00 CNY" in reason.text
    assert at_floor.score == below.score


def test_always_track_floor_is_per_currency(rules: RiskRules) -> None:
    assert not _assess(rules, "50000", currency="USD", typical="40000").tracked


def test_always_track_reason_only_when_it_changed_the_decision(rules: RiskRules) -> None:
    risky = _assess(rules, "60000", typical="40000", repeat_requests=2, device_shared_accounts=2)
    assert risky.tracked
    assert _reason(risky, "amount.always_track") is None


def test_result_carries_the_rules_version(rules: RiskRules) -> None:
    assert _assess(rules, "10").rules_version == "test-rules-7"


def test_input_amount_must_be_a_non_negative_decimal() -> None:
    with pytest.raises(ValueError, match="non-negative"):
        RiskInput(Decimal("-1"), "CNY", RefundSignals(), None)
    with pytest.raises(ValueError, match="Decimal"):
        RiskInput(12.5, "CNY", RefundSignals(), None)  # type: ignore[arg-type]


def test_signals_reject_unknown_fields_and_negative_counts() -> None:
    with pytest.raises(ValueError, match="buyer_refund_cnt"):
        RefundSignals.model_validate({"buyer_refund_cnt": 3})
    with pytest.raises(ValueError, match="device_shared_accounts"):
        RefundSignals.model_validate({"device_shared_accounts": -1})
    with pytest.raises(ValueError, match="logistics"):
        RefundSignals.model_validate({"logistics": ["lost_in_space"]})


# --- the default rules file -------------------------------------------------------------------


def test_default_file_loads_and_versions_its_results(default_rules: RiskRules) -> None:
    result = _assess(default_rules, "10")
    assert result.rules_version == default_rules.version
    assert result.rules_version


def test_default_small_clean_refund_is_low_and_untracked(default_rules: RiskRules) -> None:
    for currency, amount in [("CNY", "49.00"), ("USD", "12.50"), ("EUR", "9.99")]:
        for typical in (None, "60"):
            result = _assess(default_rules, amount, currency, typical)
            assert result.level == RiskLevel.LOW, (currency, typical, result)
            assert not result.tracked
            assert result.score == 0


def test_default_large_refund_for_a_small_ticket_merchant_is_tracked(
    default_rules: RiskRules,
) -> None:
    result = _assess(default_rules, "3000.00", typical="200")
    assert result.tracked
    relative = _reason(result, "amount.relative")
    assert relative is not None
    assert "15.0×" in relative.text


def test_default_small_refund_at_a_tiny_ticket_merchant_is_not_tracked(
    default_rules: RiskRules,
) -> None:
    assert not _assess(default_rules, "60", typical="5").tracked


@pytest.mark.parametrize("anomaly", list(LogisticsAnomaly))
def test_default_scores_every_logistics_anomaly(
    default_rules: RiskRules, anomaly: LogisticsAnomaly
) -> None:
    assert _assess(default_rules, "10", logistics=[anomaly]).score > 0


@pytest.mark.parametrize("anomaly", ["empty_package", "swapped_item"])
def test_default_tracks_a_faked_return_whatever_the_amount(
    default_rules: RiskRules, anomaly: str
) -> None:
    assert _assess(default_rules, "10", logistics=[anomaly]).tracked


def test_default_tracks_a_very_large_clean_refund_in_each_configured_currency(
    default_rules: RiskRules,
) -> None:
    for currency, floor in default_rules.always_track_at_or_above.items():
        result = _assess(default_rules, str(floor), currency, typical=str(floor))
        assert result.tracked, currency


def test_default_serial_refunder_on_a_shared_device_is_high_risk(default_rules: RiskRules) -> None:
    result = _assess(default_rules, "300", buyer_refund_count=12, device_shared_accounts=11)
    assert result.level.at_least(RiskLevel.HIGH)
    assert result.tracked


def test_docs_quote_the_default_file_verbatim() -> None:
    docs = (ROOT / "docs" / "risk-rules.md").read_text(encoding="utf-8")
    assert DEFAULT_RULES.read_text(encoding="utf-8").strip() in docs


# --- rules-file validation --------------------------------------------------------------------

VALID_HEAD = "version: v1\nlevels: {medium: 30, high: 55, critical: 80}\n"


@pytest.mark.parametrize(
    ("body", "field", "why"),
    [
        (
            "version: v1\nlevels: {medium: 50, high: 40, critical: 90}\n",
            "levels",
            "medium < high < critical",
        ),
        ("levels: {medium: 30, high: 55, critical: 80}\n", "version", "required"),
        (VALID_HEAD + "track_from: severe\n", "track_from", "'medium'"),
        (VALID_HEAD + "signal: {}\n", "signal", "not permitted"),
        (
            VALID_HEAD + "signals: {logistics: {teleported: 10}}\n",
            "signals.logistics.teleported",
            "empty_package",
        ),
        (
            VALID_HEAD + "amount: {absolute: {CNY: [{at_least: '500', points: 120}]}}\n",
            "amount.absolute.CNY[0].points",
            "100",
        ),
        (
            VALID_HEAD + "amount: {absolute: {CNY: [{at_least: 499.99, points: 20}]}}\n",
            "amount.absolute.CNY[0].at_least",
            "quoted decimal",
        ),
        (
            VALID_HEAD + "amount: {absolute: {cny: [{at_least: '500', points: 20}]}}\n",
            "amount.absolute.cny",
            "currency code",
        ),
        (VALID_HEAD + "amount: {absolute: {CNY: []}}\n", "amount.absolute.CNY", "at least 1"),
        (
            VALID_HEAD + "amount: {absolute: {CNY: [{at_least: '2000', points: 40}, "
            "{at_least: '500', points: 20}]}}\n",
            "amount.absolute.CNY",
            "mildest",
        ),
        (
            VALID_HEAD + "signals: {repeat_requests: [{at_least: 2, points: 20}, "
            "{at_least: 4, points: 10}]}\n",
            "signals.repeat_requests",
            "fewer points",
        ),
        (
            VALID_HEAD + "signals: {buyer_account_age_days: [{at_most: 7, points: 15}, "
            "{at_most: 30, points: 20}]}\n",
            "signals.buyer_account_age_days",
            "mildest",
        ),
        (
            VALID_HEAD + "amount: {relative_to_typical: {tiers: [{at_least: 0.5, points: 5}]}}\n",
            "amount.relative_to_typical.tiers[0].at_least",
            "greater than or equal to 1",
        ),
        (
            VALID_HEAD + "always_track_at_or_above: {USD: '-1'}\n",
            "always_track_at_or_above.USD",
            "greater than 0",
        ),
        (
            VALID_HEAD + "signals: {refund_only_after_delivery: 'lots'}\n",
            "signals.refund_only_after_delivery",
            "integer",
        ),
    ],
)
def test_invalid_rules_file_names_file_field_and_reason(
    tmp_path: Path, body: str, field: str, why: str
) -> None:
    path = tmp_path / "risk_rules.yaml"
    path.write_text(body, encoding="utf-8")
    with pytest.raises(RiskRulesError) as caught:
        load_rules(path)
    message = str(caught.value)
    assert str(path) in message
    line = next((row for row in message.splitlines() if row.strip().startswith(field)), None)
    assert line is not None, message
    assert why in line, message


def test_every_problem_in_a_file_is_reported_at_once(tmp_path: Path) -> None:
    path = tmp_path / "risk_rules.yaml"
    path.write_text("levels: {medium: 30, high: 55, critical: 80}\ntrack_from: nope\n")
    with pytest.raises(RiskRulesError) as caught:
        load_rules(path)
    lines = str(caught.value).splitlines()
    assert any(line.strip().startswith("version:") for line in lines)
    assert any(line.strip().startswith("track_from:") for line in lines)


@pytest.mark.parametrize(
    ("content", "why"),
    [
        ("version: v1\nlevels: [1, 2\n", "line 3"),
        ("", "mapping"),
        ("- just\n- a list\n", "mapping"),
    ],
)
def test_unreadable_rules_files_are_clear_errors(tmp_path: Path, content: str, why: str) -> None:
    path = tmp_path / "risk_rules.yaml"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(RiskRulesError, match=why) as caught:
        load_rules(path)
    assert str(path) in str(caught.value)


def test_missing_rules_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(RiskRulesError, match="cannot read"):
        load_rules(tmp_path / "nope.yaml")


def test_a_minimal_file_scores_nothing_but_is_valid(tmp_path: Path) -> None:
    path = tmp_path / "risk_rules.yaml"
    path.write_text(VALID_HEAD, encoding="utf-8")
    result = _assess(load_rules(path), "1000000", logistics=["empty_package"])
    assert result.score == 0
    assert result.level == RiskLevel.LOW
