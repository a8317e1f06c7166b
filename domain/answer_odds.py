"""How likely a contact is to answer a call at each local hour: Beta-Binomial, per hour bucket.

Pure: the activity that reads the contact's calls (activities/call_times.py) tallies them per
local hour and asks :func:`hour_odds`; the simulation (bench/simulate_anchored.py) asks the
same functions, so the rule lives here once.

The prior, before a contact has any history, is a published curve:

- PhoneBurner, "Sales Stats #2: Best time of day for sales calls" (over 11 million outgoing
  calls, times in the callee's local hour; phoneburner.com/blog/sales-stats-2-best-time-of-day-
  for-sales-calls): 6 AM 2.31 %, 7 AM 3.73 %, 8 AM 11.84 %, 9 AM 14.09 %, 10 AM 15.53 %,
  11 AM 14.95 %, 12 PM 13.53 %, 1 PM 14.41 %, 2 PM 15.01 %, 3 PM 14.44 %, 4 PM 14.07 %,
  5 PM 12.58 %, 6 PM 12.39 %, 7 PM 12.59 %, 8 PM 11.81 %, 9 PM 12.09 %. The hours 10 PM–5 AM
  are not published: they are taken at the curve's floor (the 6 AM figure), which only matters
  where a merchant's quiet hours do not already exclude them.
- Those are cold sales calls, mostly from numbers the callee does not know. Our calls come from
  the merchant's own platform: Hiya's State of the Call 2019 reports 53 % of calls from
  identified businesses answered against 24 % from unidentified numbers. The curve is scaled
  by that ratio (53 / 24 ≈ 2.21), so its 10 AM peak reads 34 % and its mean over 8 AM–9 PM
  about 30 %.

Per hour h, with the prior mean p_h and weight w (pseudo-calls), a contact's n_h calls of
which a_h a person answered give the posterior Beta(w·p_h + a_h, w·(1 − p_h) + n_h − a_h),
whose mean is the odds used. Hours are independent (no pooling between neighbours): a contact
seen only at 14:00 keeps the prior elsewhere.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from domain.vocabulary import Answerer, CallOutcome, DeliveryState

__all__ = [
    "HIYA_IDENTIFIED",
    "HIYA_UNIDENTIFIED",
    "PHONEBURNER_HOURLY",
    "PRIOR_CURVES",
    "HourOdds",
    "HourTally",
    "call_outcome",
    "hour_odds",
    "prior_curve",
    "tally",
]

# PhoneBurner's answer rate by the callee's local hour (the hour starting then).
PHONEBURNER_HOURLY: Mapping[int, float] = {
    6: 0.0231,
    7: 0.0373,
    8: 0.1184,
    9: 0.1409,
    10: 0.1553,
    11: 0.1495,
    12: 0.1353,
    13: 0.1441,
    14: 0.1501,
    15: 0.1444,
    16: 0.1407,
    17: 0.1258,
    18: 0.1239,
    19: 0.1259,
    20: 0.1181,
    21: 0.1209,
}
HIYA_IDENTIFIED = 0.53  # answered, calls from identified businesses (Hiya 2019)
HIYA_UNIDENTIFIED = 0.24  # answered, calls from unidentified numbers (Hiya 2019)
_CAP = 0.95  # no hour is certain


def _raw_curve() -> tuple[float, ...]:
    floor = min(PHONEBURNER_HOURLY.values())
    return tuple(PHONEBURNER_HOURLY.get(hour, floor) for hour in range(24))


def prior_curve(scale: float = HIYA_IDENTIFIED / HIYA_UNIDENTIFIED) -> tuple[float, ...]:
    """The published hourly curve × ``scale``, per local hour 0–23, capped below 1."""
    return tuple(min(_CAP, max(0.0, value * scale)) for value in _raw_curve())


# Named priors a policy may choose (``call_times.prior``).
PRIOR_CURVES: Mapping[str, tuple[float, ...]] = {
    "phoneburner_hiya": prior_curve(),  # identified caller (ours)
    "phoneburner": prior_curve(1.0),  # as published: cold calls
}


@dataclass(frozen=True)
class HourTally:
    """A contact's calls in one local hour: how many, and how many a person answered."""

    hour: int
    calls: int
    answered: int


@dataclass(frozen=True)
class HourOdds:
    hour: int
    odds: float  # the posterior mean: the chance a person answers a call in this hour
    calls: int  # the contact's own calls behind it
    answered: int


def call_outcome(state: str, answered_by: str | None) -> CallOutcome | None:
    """A call's final report in our words → what the learning keeps (None: nothing to learn,
    e.g. a failed call, which says nothing about the person called)."""
    if state == DeliveryState.COMPLETED:
        return CallOutcome.VOICEMAIL if answered_by == Answerer.MACHINE else CallOutcome.HUMAN
    if state == DeliveryState.BUSY:
        return CallOutcome.BUSY
    if state == DeliveryState.NO_ANSWER:
        return CallOutcome.NO_ANSWER
    return None


def tally(outcomes: Iterable[tuple[int, str]]) -> list[HourTally]:
    """(local hour, CallOutcome) pairs → one tally per hour seen."""
    calls = [0] * 24
    answered = [0] * 24
    for hour, outcome in outcomes:
        if not 0 <= hour < 24:
            raise ValueError(f"hour {hour} is not a local hour 0-23")
        calls[hour] += 1
        answered[hour] += outcome == CallOutcome.HUMAN
    return [HourTally(h, calls[h], answered[h]) for h in range(24) if calls[h]]


def hour_odds(
    tallies: Sequence[HourTally], prior: Sequence[float], prior_weight: float
) -> list[HourOdds]:
    """The posterior mean per local hour 0–23, from the prior curve and the contact's tallies."""
    if len(prior) != 24:
        raise ValueError("the prior needs one value per local hour (24)")
    if prior_weight <= 0:
        raise ValueError("prior_weight must be above 0")
    by_hour = {t.hour: t for t in tallies}
    result = []
    for hour in range(24):
        seen = by_hour.get(hour, HourTally(hour, 0, 0))
        alpha = prior_weight * prior[hour] + seen.answered
        total = prior_weight + seen.calls
        result.append(HourOdds(hour, alpha / total, seen.calls, seen.answered))
    return result
