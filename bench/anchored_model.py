"""The anchored simulation's model: one seed, one parameter set, the four arms.

The ladder is the real one: ``plan_ladder`` with the default policy and each merchant's quiet
hours (``quiet_windows``), and, in the learned arm, ``place_calls`` over the odds
``hour_odds`` / ``hour_slots`` compute from each contact's history — the functions the watch
runs. What is drawn is the merchants: an answer curve per contact (the published hourly shape,
scaled to the set's level, bent towards a peak hour of the contact's own by
``habit_strength``), a history of past calls at hours spread over the day, and per refund the
moments it would act (unprompted, after the notice, after the SMS, on a call).

Common random numbers: the draws of a refund (its k-th call attempt's answer, its notice, its
SMS) are the same uniforms in every arm, so the arms differ only by what they do. A contact's
history grows with the calls of each arm separately; a refund's plan sees only the calls placed
before it arrived.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from bench.anchored_params import AnchoredParams, ParameterSet
from bench.simulate_params import SimulationParams
from domain.answer_odds import PHONEBURNER_HOURLY, PRIOR_CURVES, hour_odds, tally
from domain.call_times import hour_slots, place_calls
from domain.ladder import PlannedStep, plan_ladder
from domain.policy import EscalationPolicy
from domain.quiet_hours import QuietHours, quiet_windows
from domain.vocabulary import CallOutcome, Channel

__all__ = ["ARMS", "ArmTotals", "Contact", "contact_curve", "population_curve", "run_seed"]

ARMS = ("no_alerts", "in_app_only", "fixed_ladder", "learned_ladder")
START = datetime(2026, 11, 23, tzinfo=UTC)  # a Monday, 00:00 UTC
_DRAWS = 12  # call-attempt draws kept per refund (more attempts than any ladder makes)


def population_curve(answer_mean: float) -> list[float]:
    """PhoneBurner's shape scaled so its 08:00-21:59 mean is ``answer_mean``."""
    floor = min(PHONEBURNER_HOURLY.values())
    shape = [PHONEBURNER_HOURLY.get(hour, floor) for hour in range(24)]
    daytime = sum(shape[8:22]) / 14
    return [min(0.95, value * answer_mean / daytime) for value in shape]


@dataclass
class Contact:
    level_z: float  # the contact's overall answer level (standard normal draw)
    peak: float  # the hour it answers best, on its own
    history_draws: list[tuple[int, float]]  # (local hour, uniform) of its calls before the run
    curve: list[float] = field(default_factory=list)  # true chance per local hour, per set
    history: list[tuple[datetime, int, str]] = field(default_factory=list)  # per arm


@dataclass
class Merchant:
    timezone: str
    contacts: list[Contact]


@dataclass(frozen=True)
class Refund:
    merchant: int
    amount_cents: int  # in USD at the file's fixed rates
    arrival: datetime
    deadline: datetime
    risk_level: str
    unprompted_u: float
    unprompted_at: datetime
    notice_u: float
    notice_h: float
    sms_u: float
    sms_h: float
    decide_h: float
    call_u: tuple[float, ...]
    act_u: tuple[float, ...]
    voicemail_u: tuple[float, ...]


@dataclass
class ArmTotals:
    at_risk_cents: int = 0
    saved_cents: int = 0
    refunds: int = 0
    saved: int = 0
    saved_via: dict[str, int] = field(default_factory=dict)
    calls: int = 0
    answered: int = 0
    voicemails: int = 0
    sms: int = 0
    cost_usd: float = 0.0
    moved_calls: int = 0


def _lognormal(rng: random.Random, median: float, sigma: float) -> float:
    return rng.lognormvariate(math.log(median), sigma)


def contact_curve(contact: Contact, base: list[float], knobs: ParameterSet) -> list[float]:
    """The contact's true chance of answering per local hour under this set."""
    sigma = knobs.level_sigma
    level = math.exp(sigma * contact.level_z - sigma * sigma / 2)
    bump = [math.exp(-0.5 * ((hour - contact.peak) / 1.5) ** 2) for hour in range(24)]
    mean_bump = sum(bump[8:22]) / 14
    strength = knobs.habit_strength
    return [
        min(0.95, base[h] * level * ((1 - strength) + strength * bump[h] / mean_bump))
        for h in range(24)
    ]


def _population(
    rng: random.Random, sim: SimulationParams, model: AnchoredParams
) -> tuple[list[Merchant], list[Refund]]:
    pop = sim.population
    codes = list(pop.currencies)
    shares = [pop.currencies[c].merchant_share for c in codes]
    merchants, currencies = [], []
    for _ in range(model.merchants):
        code = rng.choices(codes, shares)[0]
        count = 2 if rng.random() < pop.backup_contact_share else 1
        contacts = []
        for _ in range(count):
            n = _poisson(rng, model.history_calls)
            draws = [(rng.randrange(8, 21), rng.random()) for _ in range(n)]
            contacts.append(Contact(rng.gauss(0, 1), rng.uniform(8, 21.99), draws))
        merchants.append(Merchant(pop.currencies[code].timezone, contacts))
        currencies.append(code)
    weights = [1 / (rank + 1) ** pop.merchant_size_skew for rank in range(model.merchants)]
    refunds = []
    for _ in range(model.refunds):
        m = rng.choices(range(model.merchants), weights)[0]
        mix = pop.currencies[currencies[m]]
        amount = _lognormal(rng, float(mix.median), mix.sigma)
        amount = min(max(amount, float(mix.min)), float(mix.max))
        usd = amount * float(sim.money.rates[currencies[m]])
        arrival = START + timedelta(hours=rng.uniform(0, pop.arrivals_over_hours))
        deadline = arrival + timedelta(hours=rng.uniform(*pop.deadline_hours))
        abnormal = rng.random() < pop.abnormal_share
        level = ("critical" if rng.random() < 0.4 else "high") if abnormal else "medium"
        window = (deadline - arrival).total_seconds()
        refunds.append(
            Refund(
                merchant=m,
                amount_cents=round(usd * 100),
                arrival=arrival,
                deadline=deadline,
                risk_level=level,
                unprompted_u=rng.random(),
                unprompted_at=arrival + timedelta(seconds=window * rng.uniform(0.05, 0.95)),
                notice_u=rng.random(),
                notice_h=_lognormal(rng, model.notice_delay_hours, 1.0),
                sms_u=rng.random(),
                sms_h=_lognormal(rng, model.sms_delay_hours, 0.8),
                decide_h=_lognormal(rng, model.decide_hours, 0.6),
                call_u=tuple(rng.random() for _ in range(_DRAWS)),
                act_u=tuple(rng.random() for _ in range(_DRAWS)),
                voicemail_u=tuple(rng.random() for _ in range(_DRAWS)),
            )
        )
    refunds.sort(key=lambda r: r.arrival)
    return merchants, refunds


def _poisson(rng: random.Random, mean: float) -> int:
    limit, k, product = math.exp(-mean), 0, rng.random()
    while product > limit:
        k += 1
        product *= rng.random()
    return k


class _Arm:
    """One arm over the refunds, in arrival order; contacts' histories are its own."""

    def __init__(self, name: str, policy: EscalationPolicy, knobs: ParameterSet) -> None:
        self.name = name
        self.policy = policy
        self.knobs = knobs
        self.totals = ArmTotals()

    def run(self, refund: Refund, merchant: Merchant, costs: AnchoredParams) -> None:
        t = self.totals
        t.refunds += 1
        t.at_risk_cents += refund.amount_cents
        decisions: list[tuple[datetime, str]] = []
        if refund.unprompted_u < self.knobs.unprompted_p:
            decisions.append((refund.unprompted_at, "unprompted"))
        acted: datetime | None = None  # the merchant answered: the escalation stops
        if self.name != "no_alerts" and refund.notice_u < self.knobs.in_app_p_notice:
            acted = refund.arrival + timedelta(hours=refund.notice_h)
            decisions.append((acted + timedelta(hours=refund.decide_h), "in_app"))
        if self.name in ("fixed_ladder", "learned_ladder"):
            for at, channel in self._ladder(refund, merchant, acted, costs):
                acted = at if acted is None else min(acted, at)
                decisions.append((at + timedelta(hours=refund.decide_h), channel))
        in_time = [d for d in decisions if d[0] < refund.deadline]
        if in_time:
            _, channel = min(in_time)
            t.saved += 1
            t.saved_cents += refund.amount_cents
            t.saved_via[channel] = t.saved_via.get(channel, 0) + 1

    def _steps(self, refund: Refund, merchant: Merchant) -> list[PlannedStep]:
        policy = self.policy
        hours = None
        if policy.quiet_start and policy.quiet_end:
            hours = QuietHours(policy.quiet_start, policy.quiet_end)
        quiet = quiet_windows(hours, merchant.timezone, refund.arrival, refund.deadline)
        plan = plan_ladder(
            policy,
            risk_level=refund.risk_level,
            now=refund.arrival,
            deadline=refund.deadline,
            quiet=quiet,
        )
        if self.name != "learned_ladder":
            return plan.steps
        first = merchant.contacts[0]
        seen = [(hour, outcome) for at, hour, outcome in first.history if at < refund.arrival]
        settings = policy.call_times
        odds = hour_odds(tally(seen), PRIOR_CURVES[settings.prior], settings.prior_weight)
        slots = hour_slots(merchant.timezone, refund.arrival, refund.deadline, odds)
        placed, moves = place_calls(
            plan.steps,
            slots,
            now=refund.arrival,
            deadline=refund.deadline,
            quiet=quiet,
            min_step_gap=timedelta(seconds=policy.min_step_gap_s),
            settings=settings,
        )
        self.totals.moved_calls += len(moves)
        return placed

    def _ladder(
        self, refund: Refund, merchant: Merchant, acted: datetime | None, model: AnchoredParams
    ) -> list[tuple[datetime, str]]:
        """The SMS and calls this refund gets; the moments the merchant answered them."""
        costs, t = model.costs, self.totals
        answers: list[tuple[datetime, str]] = []
        draw = 0
        zone = ZoneInfo(merchant.timezone)
        limit = self.policy.contacts_for(refund.risk_level) or len(merchant.contacts)
        for step in self._steps(refund, merchant):
            if acted is not None and acted <= step.at:
                break
            if step.spec.channel == Channel.SMS:
                t.sms += 1
                t.cost_usd += costs.sms_per_segment * costs.sms_segments
                if refund.sms_u < self.knobs.sms_p_act:
                    at = step.at + timedelta(hours=refund.sms_h)
                    answers.append((at, "sms"))
                    acted = at if acted is None else min(acted, at)
                continue
            if step.spec.channel != Channel.CALL:
                continue
            heard = False
            for contact in merchant.contacts[:limit]:
                at = step.at
                for attempt in range(1, step.spec.retries + 2):
                    if at >= refund.deadline or (acted is not None and acted <= at):
                        break
                    u = refund.call_u[draw % _DRAWS]
                    act = refund.act_u[draw % _DRAWS]
                    vm = refund.voicemail_u[draw % _DRAWS]
                    draw += 1
                    hour = at.astimezone(zone).hour
                    t.calls += 1
                    if u < contact.curve[hour]:
                        t.answered += 1
                        t.cost_usd += costs.call_per_minute * costs.call_minutes_answered
                        contact.history.append((at, hour, CallOutcome.HUMAN))
                        heard = True
                        if act < self.knobs.p_act_when_connected:
                            answers.append((at, "call"))
                            acted = at if acted is None else min(acted, at)
                        break
                    if vm < self.knobs.voicemail_share:
                        t.voicemails += 1
                        t.cost_usd += costs.call_per_minute * costs.call_minutes_answered
                        contact.history.append((at, hour, CallOutcome.VOICEMAIL))
                    else:
                        contact.history.append((at, hour, CallOutcome.NO_ANSWER))
                    backoff = step.spec.retry_backoff_s * 2 ** (attempt - 1)
                    at += timedelta(seconds=backoff)
                if heard:
                    break
        return answers


def run_seed(
    sim: SimulationParams,
    model: AnchoredParams,
    policy: EscalationPolicy,
    set_name: str,
    seed: int,
) -> dict[str, ArmTotals]:
    """Every arm over one seeded population under one parameter set."""
    knobs = model.sets[set_name]
    base = population_curve(knobs.answer_mean)
    results: dict[str, ArmTotals] = {}
    for name in ARMS:
        # The same population (and the same uniforms) for every arm and every set.
        merchants, refunds = _population(random.Random(seed), sim, model)
        for merchant in merchants:
            for contact in merchant.contacts:
                contact.curve = contact_curve(contact, base, knobs)
                zone_start = START - timedelta(days=30)
                contact.history = [
                    (
                        zone_start,
                        hour,
                        CallOutcome.HUMAN if u < contact.curve[hour] else CallOutcome.NO_ANSWER,
                    )
                    for hour, u in contact.history_draws
                ]
        arm = _Arm(name, policy, knobs)
        for refund in refunds:
            arm.run(refund, merchants[refund.merchant], model)
        results[name] = arm.totals
    return results
