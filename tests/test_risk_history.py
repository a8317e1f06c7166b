"""Risk feedback in the risk gate: a buyer's (and device's) earlier outcomes add points.

Pure tests of `history_reasons` through `assess`, the `history:` section of the rules file and
what the default file promises. The database side is in test_risk_feedback.py.
"""

from __future__ import annotations

from dataclasses import fields
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from risk import (
    BuyerHistory,
    OutcomeCounts,
    PriorOutcome,
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
from risk.rules import SubjectHistoryRules

ROOT = Path(__file__).parents[1]
DEFAULT_RULES = ROOT / "config" / "risk_rules.default.yaml"

HEAD = """
version: history-test-1
levels: {medium: 20, high: 40, critical: 60}
amount:
  absolute:
    CNY: [{at_least: "100", points: 5}]
"""
HISTORY = """
history:
  lookback_days: 90
  buyer: {dispute_upheld: 15, refund_rejected: 7, timed_out: 3, max_points: 40}
  device: {dispute_upheld: 6, refund_rejected: 2, max_points: 10}
"""


def _rules(tmp_path: Path, text: str) -> RiskRules:
    path = tmp_path / "risk_rules.yaml"
    path.write_text(text, encoding="utf-8")
    return load_rules(path)


@pytest.fixture
def rules(tmp_path: Path) -> RiskRules:
    return _rules(tmp_path, HEAD + HISTORY)


def _assess(
    rules: RiskRules,
    *,
    buyer: dict[str, int] | None = None,
    device: dict[str, int] | None = None,
    history: bool = True,
    **signals: Any,
) -> RiskAssessmentResult:
    found = BuyerHistory(
        buyer=None if buyer is None else OutcomeCounts(**buyer),
        device=None if device is None else OutcomeCounts(**device),
    )
    return assess(
        RiskInput(
            amount=Decimal("150"),
            currency="CNY",
            signals=RefundSignals.model_validate(signals),
            merchant_typical_amount=None,
            history=found if history else None,
        ),
        rules,
    )


def _reason(result: RiskAssessmentResult, code: str) -> RiskReason | None:
    found = [reason for reason in result.reasons if reason.code == code]
    assert len(found) <= 1, found
    return found[0] if found else None


def _history_codes(result: RiskAssessmentResult) -> set[str]:
    return {r.code for r in result.reasons if r.code.startswith(("buyer.prior", "device.prior"))}


# --- scoring ----------------------------------------------------------------------------------


def test_a_buyers_upheld_dispute_raises_the_next_refunds_score(rules: RiskRules) -> None:
    first = _assess(rules, buyer={})
    second = _assess(rules, buyer={"dispute_upheld": 1, "refund_rejected": 1})
    assert first.score == 5
    assert second.score == 5 + 15 + 7
    upheld = _reason(second, "buyer.prior_disputes_upheld")
    assert upheld is not None
    assert upheld.points == 15
    assert upheld.text.startswith("this buyer had 1 refund rejected after the merchant's dispute")
    assert "in the last 90 days" in upheld.text
    rejected = _reason(second, "buyer.prior_refunds_rejected")
    assert rejected is not None
    assert rejected.points == 7


def test_points_are_per_earlier_refund_and_the_text_gives_the_count(rules: RiskRules) -> None:
    result = _assess(rules, buyer={"dispute_upheld": 2})
    reason = _reason(result, "buyer.prior_disputes_upheld")
    assert reason is not None
    assert reason.points == 30
    assert "2 refunds" in reason.text
    assert "2 × 15 points" in reason.text


def test_the_subjects_cap_cuts_the_milder_kinds_first_and_says_so(rules: RiskRules) -> None:
    result = _assess(rules, buyer={"dispute_upheld": 2, "refund_rejected": 2, "timed_out": 4})
    upheld = _reason(result, "buyer.prior_disputes_upheld")
    rejected = _reason(result, "buyer.prior_refunds_rejected")
    timed_out = _reason(result, "buyer.prior_timeouts")
    assert upheld is not None
    assert rejected is not None
    assert timed_out is not None
    assert (upheld.points, rejected.points, timed_out.points) == (30, 10, 0)
    assert "capped to 10" in rejected.text
    assert "at most 40" in rejected.text
    assert "not scored" in timed_out.text
    assert result.score == 5 + 40


def test_outcomes_the_rules_give_no_points_are_not_listed(rules: RiskRules) -> None:
    result = _assess(rules, buyer={"handled": 9, "evidence_missed": 2})
    assert _history_codes(result) == set()
    assert result.score == 5


def test_no_history_or_a_clean_one_changes_nothing(rules: RiskRules) -> None:
    baseline = _assess(rules, history=False)
    assert _assess(rules, buyer={}, device={}) == baseline
    assert _assess(rules) == baseline


def test_device_history_counts_on_its_own_and_less(rules: RiskRules) -> None:
    result = _assess(rules, device={"dispute_upheld": 1})
    reason = _reason(result, "device.prior_disputes_upheld")
    assert reason is not None
    assert reason.points == 6
    assert reason.text.startswith("this device had 1 refund")
    assert result.score == 5 + 6


def test_with_a_buyer_id_the_device_text_speaks_of_other_buyers(rules: RiskRules) -> None:
    result = _assess(rules, buyer={}, device={"refund_rejected": 3})
    reason = _reason(result, "device.prior_refunds_rejected")
    assert reason is not None
    assert reason.text.startswith("other buyers on this device had 3 refunds rejected")
    assert reason.points == 6


def test_buyer_and_device_caps_are_separate(rules: RiskRules) -> None:
    result = _assess(rules, buyer={"dispute_upheld": 9}, device={"dispute_upheld": 9})
    assert sum(r.points for r in result.reasons if r.code.startswith("buyer.")) == 40
    assert sum(r.points for r in result.reasons if r.code.startswith("device.")) == 10
    assert result.score == 55


def test_history_reasons_sort_with_the_others_most_points_first(rules: RiskRules) -> None:
    result = _assess(rules, buyer={"timed_out": 1}, device={"dispute_upheld": 9})
    assert [reason.code for reason in result.reasons] == [
        "device.prior_disputes_upheld",
        "amount.absolute",
        "buyer.prior_timeouts",
    ]


def test_counts_must_be_non_negative_integers() -> None:
    with pytest.raises(ValueError, match="dispute_upheld"):
        OutcomeCounts(dispute_upheld=-1)
    with pytest.raises(ValueError, match="timed_out"):
        OutcomeCounts(timed_out=1.5)  # type: ignore[arg-type]


def test_the_rules_name_exactly_the_recorded_outcomes() -> None:
    scored = set(SubjectHistoryRules.model_fields) - {"max_points"}
    assert scored == {outcome.value for outcome in PriorOutcome}
    assert {f.name for f in fields(OutcomeCounts)} == scored


# --- the rules file ---------------------------------------------------------------------------


def test_a_file_without_a_history_section_is_valid_and_scores_no_history(tmp_path: Path) -> None:
    rules = _rules(tmp_path, HEAD)
    assert not rules.history.scores_anything
    result = _assess(rules, buyer={"dispute_upheld": 5}, device={"refund_rejected": 5})
    assert result.score == 5
    assert _history_codes(result) == set()


def test_the_lookback_window_is_counted_back_from_now(rules: RiskRules) -> None:
    now = datetime(2026, 12, 31, 12, tzinfo=UTC)
    assert rules.history.since(now) == datetime(2026, 10, 2, 12, tzinfo=UTC)
    assert rules.history.scores_anything


@pytest.mark.parametrize(
    ("section", "field", "why"),
    [
        (
            "history: {buyer: {disputes_upheld: 10}}",
            "history.buyer.disputes_upheld",
            "not permitted",
        ),
        ("history: {buyer: {dispute_upheld: 120}}", "history.buyer.dispute_upheld", "100"),
        ("history: {device: {max_points: -1}}", "history.device.max_points", "greater than"),
        ("history: {lookback_days: 0}", "history.lookback_days", "greater than or equal to 1"),
        ("history: {lookback_days: '90'}", "history.lookback_days", "integer"),
        ("history: {shop: {}}", "history.shop", "not permitted"),
        ("history: {buyer: {timed_out: 'many'}}", "history.buyer.timed_out", "integer"),
    ],
)
def test_an_invalid_history_section_names_the_field_and_reason(
    tmp_path: Path, section: str, field: str, why: str
) -> None:
    with pytest.raises(RiskRulesError) as caught:
        _rules(tmp_path, HEAD + section + "\n")
    message = str(caught.value)
    line = next((row for row in message.splitlines() if row.strip().startswith(field)), None)
    assert line is not None, message
    assert why in line, message


# --- the default file -------------------------------------------------------------------------


def _default(**history: dict[str, int]) -> RiskAssessmentResult:
    rules = load_rules(DEFAULT_RULES)
    return assess(
        RiskInput(
            amount=Decimal("600.00"),
            currency="CNY",
            signals=RefundSignals(buyer_id="b-1", device_id="d-1"),
            merchant_typical_amount=Decimal("600"),
            history=BuyerHistory(
                buyer=OutcomeCounts(**history.get("buyer", {})),
                device=OutcomeCounts(**history.get("device", {})),
            ),
        ),
        rules,
    )


def test_default_one_upheld_dispute_makes_a_buyers_next_refund_tracked() -> None:
    clean = _default()
    assert clean.level == RiskLevel.LOW
    assert not clean.tracked
    after = _default(buyer={"dispute_upheld": 1, "refund_rejected": 1})
    assert after.score > clean.score
    assert after.tracked


def test_default_device_history_weighs_less_than_the_buyers_own() -> None:
    same = {"dispute_upheld": 1, "refund_rejected": 1}
    assert _default().score < _default(device=same).score < _default(buyer=same).score


def test_default_handled_refunds_add_nothing() -> None:
    assert _default(buyer={"handled": 20}, device={"handled": 20}).score == _default().score
