"""The report's arithmetic: money at risk, saved and lost per arm, per channel, and what the
Twilio sends cost per 1,000 saved. Pure, Decimal throughout.

Totals are kept per currency in integer minor units, and converted into the report currency
with the fixed rates of the parameters file (``money.rates``; Twilio's USD prices too); each
converted figure is rounded once, half-even, to the report currency's minor unit.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any

from bench.report import summary
from bench.simulate_outcomes import ArmOutcome, RefundOutcome
from domain.money import from_minor, minor_exponent

__all__ = [
    "CHANNELS",
    "SEND_KEYS",
    "ArmSummary",
    "MoneyTotal",
    "Rates",
    "convert",
    "per_thousand",
    "summarise",
]

CHANNELS = ("in_app", "sms", "call")
SEND_KEYS = ("in_app_notices", "sms_sent", "sms_reached", "call_sent", "call_reached",
             "call_voicemail")  # fmt: skip
_COST_QUANTUM = Decimal("0.0001")  # Twilio prices have 4-5 decimals


@dataclass(frozen=True)
class Rates:
    report_currency: str
    rates: Mapping[str, Decimal]  # 1 unit of the key = this many report-currency units

    def quantum(self) -> Decimal:
        return Decimal(1).scaleb(-minor_exponent(self.report_currency))


def convert(minor_by_currency: Mapping[str, int], rates: Rates) -> Decimal:
    total = sum(
        (from_minor(minor, code) * rates.rates[code] for code, minor in minor_by_currency.items()),
        Decimal(0),
    )
    return total.quantize(rates.quantum(), rounding=ROUND_HALF_EVEN)


def per_thousand(cost: Decimal, saved: Decimal) -> Decimal | None:
    """Cost per 1,000 of money saved (both in the report currency); None when nothing saved."""
    if saved <= 0:
        return None
    return (cost * 1000 / saved).quantize(_COST_QUANTUM, rounding=ROUND_HALF_EVEN)


@dataclass(frozen=True)
class MoneyTotal:
    count: int
    minor: Mapping[str, int]  # per currency, minor units
    converted: Decimal  # in the report currency

    @classmethod
    def of(cls, refunds: Iterable[RefundOutcome], rates: Rates) -> MoneyTotal:
        minor: Counter[str] = Counter()
        count = 0
        for refund in refunds:
            minor[refund.currency] += refund.amount_minor
            count += 1
        return cls(count, dict(sorted(minor.items())), convert(minor, rates))

    def to_json(self) -> dict[str, Any]:
        return {
            "count": self.count,
            "by_currency": {
                code: str(from_minor(value, code)) for code, value in self.minor.items()
            },
            "converted": str(self.converted),
        }


@dataclass(frozen=True)
class ArmSummary:
    arm: str
    ran_workflows: bool
    at_risk: MoneyTotal
    saved: MoneyTotal
    lost: MoneyTotal
    still_open: int
    not_watched: MoneyTotal
    saved_via: Mapping[str, MoneyTotal]  # in_app | sms | call | unprompted
    lost_after: Mapping[str, MoneyTotal]  # last channel that reached the merchant, or none
    answered_but_lost: int
    prompted_by: Mapping[str, int]
    sends: Mapping[str, int]
    cost: Mapping[str, Decimal]  # per channel, report currency
    cost_total: Decimal
    cost_per_1000_saved: Decimal | None
    timeout_lateness_s: Mapping[str, float] = field(default_factory=dict)
    step_lateness_s: Mapping[str, float] = field(default_factory=dict)
    extra_saved_vs_no_alerts: Decimal | None = None
    cost_per_1000_extra_saved: Decimal | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def saved_share(self) -> Decimal | None:
        if self.at_risk.converted <= 0:
            return None
        return (self.saved.converted / self.at_risk.converted * 100).quantize(Decimal("0.1"))

    def to_json(self) -> dict[str, Any]:
        def money(value: Decimal | None) -> str | None:
            return None if value is None else str(value)

        return {
            "arm": self.arm,
            "ran_workflows": self.ran_workflows,
            "at_risk": self.at_risk.to_json(),
            "saved": self.saved.to_json(),
            "lost": self.lost.to_json(),
            "saved_share_percent": money(self.saved_share),
            "still_open": self.still_open,
            "not_watched": self.not_watched.to_json(),
            "saved_via": {k: v.to_json() for k, v in self.saved_via.items()},
            "lost_after": {k: v.to_json() for k, v in self.lost_after.items()},
            "answered_but_lost": self.answered_but_lost,
            "prompted_by": dict(self.prompted_by),
            "sends": dict(self.sends),
            "timeout_lateness_s": dict(self.timeout_lateness_s),
            "step_lateness_s": dict(self.step_lateness_s),
            "twilio_cost": {k: str(v) for k, v in self.cost.items()},
            "twilio_cost_total": str(self.cost_total),
            "cost_per_1000_saved": money(self.cost_per_1000_saved),
            "extra_saved_vs_no_alerts": money(self.extra_saved_vs_no_alerts),
            "cost_per_1000_extra_saved": money(self.cost_per_1000_extra_saved),
            "notes": self.notes,
        }


def _spread(values: Iterable[float]) -> dict[str, float]:
    values = list(values)
    return {k: round(v, 3) for k, v in summary(values).items()} if values else {}


def _grouped(
    refunds: Iterable[RefundOutcome], keys: Iterable[str], rates: Rates
) -> dict[str, MoneyTotal]:
    refunds = list(refunds)
    return {key: MoneyTotal.of((r for r in refunds if r.channel == key), rates) for key in keys}


def summarise(
    outcome: ArmOutcome, rates: Rates, *, baseline_saved: Decimal | None = None
) -> ArmSummary:
    """One arm's figures; ``baseline_saved`` (the no-alerts arm's saved money) adds the
    comparison: extra money saved, and the cost per 1,000 of that extra."""
    saved = [r for r in outcome.refunds if r.result == "saved"]
    lost = [r for r in outcome.refunds if r.result == "lost"]
    sends: Counter[str] = Counter()
    cost: dict[str, Decimal] = {channel: Decimal(0) for channel in ("sms", "call")}
    for send in outcome.sends:
        if send.channel == "in_app":
            sends["in_app_notices"] += 1
            continue
        if send.sent:
            sends[f"{send.channel}_sent"] += 1
        if send.reached:
            sends[f"{send.channel}_reached"] += 1
        if send.voicemail:
            sends["call_voicemail"] += 1
        if send.price is not None:
            unit = send.price_unit or "USD"
            cost[send.channel] += abs(send.price) * rates.rates[unit]
    cost = {k: v.quantize(_COST_QUANTUM, rounding=ROUND_HALF_EVEN) for k, v in cost.items()}
    cost_total = sum(cost.values(), Decimal(0))
    saved_total = MoneyTotal.of(saved, rates)
    extra = None if baseline_saved is None else saved_total.converted - baseline_saved
    return ArmSummary(
        arm=outcome.arm,
        ran_workflows=outcome.ran_workflows,
        at_risk=MoneyTotal.of(outcome.refunds, rates),
        saved=saved_total,
        lost=MoneyTotal.of(lost, rates),
        still_open=sum(1 for r in outcome.refunds if r.result == "open"),
        not_watched=MoneyTotal.of(outcome.untracked, rates),
        saved_via=_grouped(saved, (*CHANNELS, "unprompted"), rates),
        lost_after=_grouped(lost, ("none", *CHANNELS), rates),
        answered_but_lost=sum(1 for r in lost if r.answered),
        prompted_by=dict(Counter(r.prompted_by or "nothing" for r in saved if r.answered)),
        sends={key: sends[key] for key in SEND_KEYS},
        cost=cost,
        cost_total=cost_total,
        cost_per_1000_saved=per_thousand(cost_total, saved_total.converted),
        timeout_lateness_s=_spread(outcome.timeout_lateness_s),
        step_lateness_s=_spread(outcome.step_lateness_s),
        extra_saved_vs_no_alerts=extra,
        cost_per_1000_extra_saved=None if extra is None else per_thousand(cost_total, extra),
    )
