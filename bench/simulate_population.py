"""The simulated population: merchants, refunds and how each merchant will behave, drawn once
from the seed, so every arm faces the same refunds and the same merchants.

Pure: no I/O. One ``random.Random(seed)`` draws everything in a fixed order (merchants, then
refunds in arrival order, then each contact's phone script), so the same parameters and seed
give the same population and the same sandbox scenario, byte for byte.

What is drawn per refund is what the merchant *would* do if prompted: notice the in-app notice
(and after how long), act on the SMS (and after how long), act unprompted (and when), how long
the decision takes once they said "I'll handle it". Whether the prompt comes, and whether the
answer lands before the deadline, is left to the real system in each arm.
"""

from __future__ import annotations

import math
import random
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any

from bench.simulate_params import CurrencyMix, Delay, SignalKind, SimulationParams
from domain.money import to_minor

__all__ = ["Population", "SimMerchant", "SimRefund", "build_population"]

# A call step may retry a contact (the default policy: 3 + 2 tries) and one call can walk
# through all of a merchant's open refunds: this many scripted calls per refund is ample.
_CALLS_PER_REFUND = 6
_MAX_SCRIPTED_CALLS = 60


@dataclass(frozen=True)
class SimMerchant:
    merchant_id: str
    currency: str
    language: str
    timezone: str
    phones: tuple[str, ...]


@dataclass(frozen=True)
class SimRefund:
    index: int  # arrival order, 0-based
    merchant_id: str
    currency: str
    amount_minor: int
    abnormal: bool
    signals: Mapping[str, Any]
    arrival_h: float  # policy hours after the start
    deadline_h: float  # policy hours from arrival to the deadline
    # What the merchant would do; None = would not.
    unprompted_at: float | None  # fraction of the time to the deadline
    in_app_after_h: float | None  # after the in-app notice
    sms_after_h: float | None  # after the SMS is delivered
    decide_after_h: float  # from "I'll handle it" to the decision in the back office

    @property
    def resolution(self) -> str:
        """What the merchant decides: rejects the abnormal ones, approves the rest."""
        return "rejected" if self.abnormal else "approved"


@dataclass(frozen=True)
class Population:
    seed: int
    merchants: tuple[SimMerchant, ...]
    refunds: tuple[SimRefund, ...]
    scenario: Mapping[str, Any]  # twilio_sandbox scenario: each contact's calls

    def merchant(self, merchant_id: str) -> SimMerchant:
        return next(m for m in self.merchants if m.merchant_id == merchant_id)

    def amounts_minor(self) -> dict[str, int]:
        totals: Counter[str] = Counter()
        for refund in self.refunds:
            totals[refund.currency] += refund.amount_minor
        return dict(totals)


def _delay(rng: random.Random, delay: Delay) -> float:
    return rng.lognormvariate(math.log(delay.median), delay.sigma)


def _amount_minor(rng: random.Random, currency: str, mix: CurrencyMix) -> int:
    """Lognormal around the median; the random factor is a float, the money never is."""
    factor = Decimal(math.exp(mix.sigma * rng.gauss(0.0, 1.0)))
    median = Decimal(to_minor(mix.median, currency))
    amount = int((median * factor).to_integral_value(rounding=ROUND_HALF_EVEN))
    return max(to_minor(mix.min, currency), min(to_minor(mix.max, currency), amount))


def _signal(rng: random.Random, kind: str) -> dict[str, Any]:
    if kind in {"empty_package", "swapped_item", "weight_mismatch", "return_not_received",
                "no_tracking"}:  # fmt: skip
        return {"logistics": [kind]}
    if kind == "buyer_refund_count":
        return {"buyer_refund_count": rng.randint(5, 15)}
    if kind == "device_shared_accounts":
        return {"device_shared_accounts": rng.randint(3, 12)}
    if kind == "new_buyer_account":
        return {"buyer_account_age_days": rng.randint(0, 7)}
    return {"refund_only_after_delivery": True}


def _signals(
    rng: random.Random, abnormal: bool, weights: Mapping[SignalKind, float]
) -> dict[str, Any]:
    if not abnormal:
        return {"buyer_refund_count": rng.randint(0, 2),
                "buyer_account_age_days": rng.randint(30, 2000)}  # fmt: skip
    kinds = list(weights)
    chosen = rng.choices(kinds, weights=[weights[k] for k in kinds])
    if rng.random() < 0.3:  # a second, different anomaly now and then
        second = rng.choices(kinds, weights=[weights[k] for k in kinds])[0]
        if second != chosen[0]:
            chosen.append(second)
    signals: dict[str, Any] = {}
    for kind in chosen:
        for key, value in _signal(rng, kind).items():
            if key == "logistics":
                signals["logistics"] = [*signals.get("logistics", []), *value]
            else:
                signals[key] = value
    return signals


def _phone(currency: str, n: int) -> str:
    # Reserved fictional ranges, as the demo and the other benchmarks use.
    return f"+86139{n:08d}" if currency == "CNY" else f"+1415555{n % 10000:04d}"


def _merchants(rng: random.Random, params: SimulationParams) -> list[SimMerchant]:
    population = params.population
    codes = list(population.currencies)
    shares = [population.currencies[c].merchant_share for c in codes]
    merchants: list[SimMerchant] = []
    n = 0
    for i in range(population.merchants):
        currency = rng.choices(codes, weights=shares)[0]
        mix = population.currencies[currency]
        contacts = 2 if rng.random() < population.backup_contact_share else 1
        phones = []
        for _ in range(contacts):
            phones.append(_phone(currency, n))
            n += 1
        merchants.append(
            SimMerchant(f"m-sim-{i:04d}", currency, mix.language, mix.timezone, tuple(phones))
        )
    return merchants


def _call_script(
    rng: random.Random, params: SimulationParams, refunds: int
) -> list[dict[str, Any]]:
    """Successive calls to one number. A person who picks up presses 1 for each refund they
    act on (one call walks through all open refunds); one who does not act presses nothing
    (twice for the first refund: the script says it once more) and the call ends."""
    call = params.behaviour.call
    entries: list[dict[str, Any]] = []
    for _ in range(min(_MAX_SCRIPTED_CALLS, max(2, _CALLS_PER_REFUND * refunds))):
        draw = rng.random()
        if draw < call.p_pickup:
            digits: list[str] = []
            for position in range(refunds):
                if rng.random() < call.p_act_when_connected:
                    digits.append("1")
                    continue
                digits.extend(["", ""] if position == 0 else [""])
                break
            entries.append({"answer": "human", "digits": digits})
        elif draw < call.p_pickup + call.p_voicemail:
            entries.append({"answer": "machine"})
        elif draw < call.p_pickup + call.p_voicemail + call.p_busy:
            entries.append({"answer": "busy"})
        else:
            entries.append({"answer": "no-answer"})
    return entries


def build_population(params: SimulationParams) -> Population:
    rng = random.Random(params.seed)
    population, behaviour = params.population, params.behaviour
    merchants = _merchants(rng, params)
    weights = [1 / (rank + 1) ** population.merchant_size_skew for rank in range(len(merchants))]
    drafts: list[tuple[float, SimMerchant, int, bool, dict[str, Any], float]] = []
    for _ in range(population.refunds):
        merchant = rng.choices(merchants, weights=weights)[0]
        amount = _amount_minor(rng, merchant.currency, population.currencies[merchant.currency])
        abnormal = rng.random() < population.abnormal_share
        signals = _signals(rng, abnormal, population.abnormal_signals)
        arrival = rng.uniform(0, population.arrivals_over_hours)
        deadline = rng.uniform(*population.deadline_hours)
        drafts.append((arrival, merchant, amount, abnormal, signals, deadline))
    drafts.sort(key=lambda draft: draft[0])
    refunds = []
    for index, (arrival, merchant, amount, abnormal, signals, deadline) in enumerate(drafts):
        unprompted = rng.uniform(0.05, 0.95) if rng.random() < behaviour.unprompted.p else None
        in_app = (
            _delay(rng, behaviour.in_app.delay_hours)
            if rng.random() < behaviour.in_app.p_notice
            else None
        )
        sms = _delay(rng, behaviour.sms.delay_hours) if rng.random() < behaviour.sms.p_act else None
        refunds.append(
            SimRefund(
                index=index,
                merchant_id=merchant.merchant_id,
                currency=merchant.currency,
                amount_minor=amount,
                abnormal=abnormal,
                signals=signals,
                arrival_h=arrival,
                deadline_h=deadline,
                unprompted_at=unprompted,
                in_app_after_h=in_app,
                sms_after_h=sms,
                decide_after_h=_delay(rng, behaviour.decide_hours),
            )
        )
    per_merchant = Counter(refund.merchant_id for refund in refunds)
    active = [m for m in merchants if per_merchant[m.merchant_id]]
    numbers = {
        phone: {"calls": _call_script(rng, params, per_merchant[merchant.merchant_id])}
        for merchant in active
        for phone in merchant.phones
    }
    scenario = {
        "default": {"sms": [{"status": "delivered"}], "calls": [{"answer": "no-answer"}]},
        "numbers": numbers,
    }
    return Population(params.seed, tuple(active), tuple(refunds), scenario)
