"""The money-saved simulation's pure parts: the seeded population, the parameters file's
errors, the compressed policies and the report's Decimal arithmetic. (The run itself needs the
whole stack for minutes: `refundwatch simulate`, docs/benchmarks.md.)"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import yaml

from bench.simulate_outcomes import ArmOutcome, RefundOutcome, SendRecord, no_alerts_outcome
from bench.simulate_params import ParamsError, SimulationParams, load_params, parse_params
from bench.simulate_policy import write_policies
from bench.simulate_population import build_population
from bench.simulate_summary import Rates, convert, per_thousand, summarise
from config.policy_file import load_policy
from domain.money import to_minor

PARAMS_FILE = Path(__file__).parents[1] / "bench" / "simulate.yaml"
RATES = Rates("USD", {"USD": Decimal(1), "CNY": Decimal("0.14")})


def _raw() -> dict[str, Any]:
    raw: dict[str, Any] = yaml.safe_load(PARAMS_FILE.read_text())
    return raw


def _params(**population: Any) -> SimulationParams:
    raw = _raw()
    raw["population"].update(population)
    return parse_params(raw)


# ------------------------------------------------------------------ population
def test_the_same_seed_gives_the_same_population_and_phone_scripts() -> None:
    params = _params(refunds=120, merchants=40)
    first, second = build_population(params), build_population(params)
    assert first.refunds == second.refunds
    assert first.merchants == second.merchants
    assert yaml.safe_dump(dict(first.scenario)) == yaml.safe_dump(dict(second.scenario))
    other = build_population(params.with_overrides(seed=params.seed + 1))
    assert other.refunds != first.refunds


def test_population_follows_the_parameters() -> None:
    params = _params(refunds=400, merchants=60)
    population = build_population(params)
    assert len(population.refunds) == 400
    assert [r.index for r in population.refunds] == list(range(400))
    arrivals = [r.arrival_h for r in population.refunds]
    assert arrivals == sorted(arrivals)
    low, high = params.population.deadline_hours
    assert all(low <= r.deadline_h <= high for r in population.refunds)
    for refund in population.refunds:
        mix = params.population.currencies[refund.currency]
        assert isinstance(refund.amount_minor, int)
        assert to_minor(mix.min, refund.currency) <= refund.amount_minor
        assert refund.amount_minor <= to_minor(mix.max, refund.currency)
        assert population.merchant(refund.merchant_id).currency == refund.currency
    abnormal = sum(r.abnormal for r in population.refunds) / 400
    assert 0.2 < abnormal < 0.4  # abnormal_share 0.3
    assert all(r.signals.get("logistics") or len(r.signals) for r in population.refunds)
    # Every contact of a merchant with refunds has a scripted phone.
    phones = {p for m in population.merchants for p in m.phones}
    assert set(population.scenario["numbers"]) == phones


def test_a_person_who_does_not_act_presses_nothing_and_the_call_ends() -> None:
    raw = _raw()
    raw["behaviour"]["call"].update(p_pickup=1.0, p_voicemail=0, p_busy=0, p_act_when_connected=0)
    population = build_population(parse_params(raw).with_overrides(refunds=20))
    for number in population.scenario["numbers"].values():
        assert {entry["answer"] for entry in number["calls"]} == {"human"}
        assert all(entry["digits"] == ["", ""] for entry in number["calls"])


# ------------------------------------------------------------------ the parameters file
@pytest.mark.parametrize(
    ("change", "named"),
    [
        (lambda raw: raw["behaviour"]["call"].update(p_pickup=1.5), "behaviour.call.p_pickup"),
        (lambda raw: raw["population"]["currencies"]["CNY"].update(median=1200.5),
         "population.currencies.CNY.median"),
        (lambda raw: raw["population"].update(deadline_hours=[72, 24]),
         "population.deadline_hours"),
        (lambda raw: raw["behaviour"]["sms"].update(p_acts=0.2), "behaviour.sms.p_acts"),
        (lambda raw: raw["money"]["rates"].pop("CNY"), "money.rates: no rate for CNY"),
        (lambda raw: raw["policy"].update(base="no/such/policy.yaml"), "policy.base"),
    ],
)  # fmt: skip
def test_a_bad_parameter_is_named(change: Any, named: str) -> None:
    raw = _raw()
    change(raw)
    with pytest.raises(ParamsError) as caught:
        parse_params(raw, source="sim.yaml")
    assert str(caught.value).startswith("sim.yaml: ")
    assert named in str(caught.value)


def test_the_shipped_file_loads_and_overrides_are_validated(tmp_path: Path) -> None:
    params = load_params(PARAMS_FILE)
    assert params.with_overrides(refunds=10, seed=3).population.refunds == 10
    with pytest.raises(ParamsError, match=r"command line: population\.refunds"):
        params.with_overrides(refunds=0)
    broken = tmp_path / "sim.yaml"
    broken.write_text("population: [unclosed")
    with pytest.raises(ParamsError, match="not valid YAML"):
        load_params(broken)


# ------------------------------------------------------------------ compressed policies
def test_policies_are_compressed_validated_and_in_app_only_keeps_only_notices(
    tmp_path: Path,
) -> None:
    params = load_params(PARAMS_FILE)
    paths = write_policies(
        params.policy.base, tmp_path, seconds_per_hour=2, call_result_timeout_s=8
    )
    full, in_app = load_policy(paths["full"]), load_policy(paths["in_app_only"])
    offsets = {step.name: step.before_deadline_s for step in full.steps}
    assert offsets["sms_reminder"] == 48  # 24 h × 2 s per hour
    assert offsets["first_call"] == 24
    assert offsets["final_call"] == 4
    assert full.call.result_timeout_s == 8  # real seconds: not compressed
    assert full.min_step_gap_s == 1  # 10 min → 0.33 s, rounded up to the format's 1 s
    assert full.quiet_start is None and full.quiet_end is None
    assert {step.channel for step in in_app.steps} == {"in_app"}


# ------------------------------------------------------------------ report arithmetic
def _refund(index: int, currency: str, minor: int, result: str, channel: str) -> RefundOutcome:
    return RefundOutcome(index, currency, minor, result, channel, answered=channel != "unprompted")


def test_saved_lost_and_cost_per_thousand_in_decimal() -> None:
    outcome = ArmOutcome(
        "full",
        refunds=(
            _refund(0, "CNY", 1_000_000, "saved", "call"),  # CNY 10,000.00 → USD 1,400.00
            _refund(1, "USD", 60_000, "saved", "sms"),  # USD 600.00
            _refund(2, "USD", 33_333, "lost", "call"),  # USD 333.33
            _refund(3, "CNY", 1, "saved", "unprompted"),  # CNY 0.01 → USD 0.0014
        ),
        untracked=(RefundOutcome(4, "USD", 500, "open", ""),),
        sends=(
            SendRecord("in_app", sent=True, reached=True),
            SendRecord("sms", True, True, price=Decimal("0.0079"), price_unit="USD"),
            SendRecord("sms", True, True, price=Decimal("0.0158"), price_unit="USD"),
            SendRecord("call", True, True, price=Decimal("0.0130"), price_unit="USD"),
            SendRecord("call", True, False),  # no answer: no price
        ),
        ran_workflows=True,
    )
    summary = summarise(outcome, RATES, baseline_saved=Decimal("600.00"))
    assert summary.saved.converted == Decimal("2000.00")  # 1,400 + 600 + 0.0014 → 2,000.00
    assert summary.saved.minor == {"CNY": 1_000_001, "USD": 60_000}
    assert summary.lost.converted == Decimal("333.33")
    assert summary.at_risk.converted == Decimal("2333.33")
    assert summary.saved_share == Decimal("85.7")
    assert summary.not_watched.converted == Decimal("5.00")
    assert summary.saved_via["call"].converted == Decimal("1400.00")
    assert summary.saved_via["unprompted"].count == 1
    assert summary.lost_after["call"].count == 1
    assert summary.answered_but_lost == 1
    assert summary.cost == {"sms": Decimal("0.0237"), "call": Decimal("0.0130")}
    assert summary.cost_total == Decimal("0.0367")
    assert summary.cost_per_1000_saved == Decimal("0.0184")  # 0.0367 × 1000 / 2000 = 0.01835
    assert summary.extra_saved_vs_no_alerts == Decimal("1400.00")
    assert summary.cost_per_1000_extra_saved == Decimal("0.0262")
    assert summary.sends["sms_sent"] == 2 and summary.sends["call_reached"] == 1
    assert summary.to_json()["saved"]["by_currency"] == {"CNY": "10000.01", "USD": "600.00"}


def test_conversion_rounds_once_half_even_and_nothing_saved_has_no_ratio() -> None:
    assert convert({"CNY": 25, "USD": 0}, RATES) == Decimal("0.04")  # 0.035 → half-even
    assert convert({"CNY": 15}, RATES) == Decimal("0.02")  # 0.021
    assert convert({"CNY": 12, "USD": 1}, RATES) == Decimal("0.03")  # 0.0168 + 0.01
    assert convert({"CNY": 18}, RATES) == Decimal("0.03")  # 0.0252
    assert per_thousand(Decimal("1.00"), Decimal(0)) is None
    assert per_thousand(Decimal("0.0079"), Decimal("3.00")) == Decimal("2.6333")


def test_no_alerts_saves_only_what_merchants_decide_unprompted() -> None:
    params = _params(refunds=80, merchants=20)
    population = build_population(params)
    tracked = {refund.index: refund.index % 2 == 0 for refund in population.refunds}
    outcome = no_alerts_outcome(population, tracked)
    assert not outcome.ran_workflows and outcome.sends == ()
    assert len(outcome.refunds) == 40 and len(outcome.untracked) == 40
    for refund in outcome.refunds:
        unprompted = population.refunds[refund.index].unprompted_at is not None
        assert refund.result == ("saved" if unprompted else "lost")
    summary = summarise(outcome, RATES)
    assert summary.cost_total == 0
    for code, at_risk in summary.at_risk.minor.items():
        assert summary.saved.minor.get(code, 0) + summary.lost.minor.get(code, 0) == at_risk


# ------------------------------------------------------------------ a small run, end to end
@pytest.mark.slow
async def test_the_ladder_saves_what_in_app_alone_loses_when_merchants_answer_calls() -> None:
    """8 refunds through the real stack on a fast clock. Merchants ignore the app and SMS but
    pick up and press 1: what the full ladder saves it saves by call, in-app only and no
    alerts lose every refund to the loss ledger, and the Twilio cost is what the sandbox
    priced. (Not "all 8 saved": on a busy machine a late timer may place a call too late.)"""
    from bench.simulate import run_simulation

    raw = _raw()
    raw["population"].update(refunds=8, merchants=4, arrivals_over_hours=2, abnormal_share=1.0,
                             deadline_hours=[24, 28])  # fmt: skip
    raw["behaviour"].update(
        unprompted={"p": 0},
        in_app={"p_notice": 0, "delay_hours": {"median": 1, "sigma": 0}},
        sms={"p_act": 0, "delay_hours": {"median": 1, "sigma": 0}},
        call={"p_pickup": 1, "p_act_when_connected": 1},
        decide_hours={"median": 0.1, "sigma": 0},
    )
    raw["time"].update(seconds_per_policy_hour=0.5, grace_s=3)
    result = await run_simulation(parse_params(raw))
    none, in_app, full = result.summaries
    assert full.at_risk.count == 8  # abnormal_share 1.0: the risk gate watches every refund
    assert full.still_open == in_app.still_open == 0
    assert full.saved.count >= 1
    assert full.saved_via["call"] == full.saved  # only a call could have saved anything
    for code, at_risk in full.at_risk.minor.items():  # exact in minor units, per currency
        assert full.saved.minor.get(code, 0) + full.lost.minor.get(code, 0) == at_risk
    assert in_app.lost == in_app.at_risk and in_app.lost_after["in_app"].count == 8
    assert none.lost == none.at_risk
    assert full.sends["call_reached"] >= 1 and full.cost["call"] > 0
    assert full.cost_per_1000_saved is not None and full.cost_per_1000_saved > 0
