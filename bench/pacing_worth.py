"""The burst benchmark's answer model, and the dispatch that asks "will they pick up now".

Each due call's contact gets a true answer curve (the anchored simulation's central set:
PhoneBurner's hourly shape at Hiya's identified-caller level, bent towards a peak hour of the
contact's own; bench/anchored_model.py) in its merchant's time zone (bench/simulate.yaml: 70 %
Asia/Shanghai, 30 % America/New_York), and a short history drawn from that curve. The
dispatcher knows only what the product would: ``send_worth``'s odds, i.e. the posterior of the
history over the prior (domain/answer_odds.py). The score uses the truth.

The burst starts at 02:00 UTC (10:00 in Shanghai, 21:00 in New York), a stated choice: at
another hour the spread of answer odds between the calls, and so the gain, differs.

Orders: ``greedy_order`` grants slot by slot to the best priority at that slot's time (what the
Pacer does when every waiter refreshes its ticket); the Pacer's own order is compared with it.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from bench.anchored_model import Contact, contact_curve, population_curve
from bench.anchored_params import ParameterSet
from domain.answer_odds import PRIOR_CURVES, hour_odds, tally
from domain.vocabulary import CallOutcome
from pacing import TicketWorth, expected_loss_minor

__all__ = [
    "BURST_START",
    "AnswerProfile",
    "answer_profiles",
    "greedy_order",
    "ticket_worth",
]

BURST_START = datetime(2026, 11, 25, 2, 0, tzinfo=UTC)
ZONES = (("Asia/Shanghai", 0.7), ("America/New_York", 0.3))
HISTORY_CALLS = 6  # the anchored simulation's history_calls
CENTRAL = ParameterSet(
    answer_mean=0.298,
    habit_strength=0.6,
    level_sigma=0.5,
    p_act_when_connected=0.55,
    sms_p_act=0.25,
    in_app_p_notice=0.3,
    unprompted_p=0.25,
    voicemail_share=0.3,
)  # bench/simulate.yaml anchored.sets.central (checked by tests/test_simulate_anchored.py)


@dataclass(frozen=True)
class AnswerProfile:
    timezone: str
    truth: tuple[float, ...]  # chance a person answers, per local hour
    known: tuple[float, ...]  # what the dispatcher estimates from the contact's history

    def true_at(self, at: datetime) -> float:
        return self.truth[at.astimezone(ZoneInfo(self.timezone)).hour]


def answer_profiles(count: int, seed: int, knobs: ParameterSet = CENTRAL) -> list[AnswerProfile]:
    rng = random.Random(f"answers:{seed}")
    base = population_curve(knobs.answer_mean)
    prior = PRIOR_CURVES["phoneburner_hiya"]
    profiles = []
    for _ in range(count):
        zone = rng.choices([z for z, _ in ZONES], [w for _, w in ZONES])[0]
        contact = Contact(rng.gauss(0, 1), rng.uniform(8, 21.99), [])
        truth = contact_curve(contact, base, knobs)
        history = []
        for _ in range(HISTORY_CALLS):
            hour = rng.randrange(8, 21)
            human = rng.random() < truth[hour]
            history.append((hour, CallOutcome.HUMAN if human else CallOutcome.NO_ANSWER))
        known = tuple(o.odds for o in hour_odds(tally(history), prior, 4.0))
        profiles.append(AnswerProfile(zone, tuple(truth), known))
    return profiles


def ticket_worth(
    amount_minor: int, risk_score: int, deadline_s: float, profile: AnswerProfile
) -> TicketWorth:
    return TicketWorth(
        expected_loss_minor(amount_minor, risk_score),
        BURST_START + timedelta(seconds=deadline_s),
        profile.known,
        profile.timezone,
    )


def greedy_order(
    worths: Sequence[TicketWorth], slot_seconds: float, clock_start: datetime = BURST_START
) -> list[int]:
    """Slot k (at k x slot_seconds) goes to the best priority at that moment, recomputed."""
    left = set(range(len(worths)))
    order = []
    for slot in range(len(worths)):
        now = clock_start + timedelta(seconds=slot * slot_seconds)
        best = max(left, key=lambda i: (worths[i].priority_at(now), -i))
        order.append(best)
        left.remove(best)
    return order


def sorted_order(count: int, priority: Callable[[int], float]) -> list[int]:
    """A fixed priority's order (higher first, then arrival)."""
    return sorted(range(count), key=lambda i: (-priority(i), i))
