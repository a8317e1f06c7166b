"""The anchored simulation's block of bench/simulate.yaml (``anchored:``): behaviour parameters
with their sources, per-merchant hour-of-day answer curves, three parameter sets.

Validated like the rest of the file (a bad field is named). Every figure that comes from a
publication names it in ``sources``; every other one is an assumption and says so.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, model_validator

__all__ = ["AnchoredParams", "Costs", "ParameterSet", "Source"]

Probability = Annotated[float, Field(ge=0, le=1)]
SET_NAMES = ("pessimistic", "central", "optimistic")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Source(_Strict):
    figure: str  # what the publication says, in its words and numbers
    reference: str  # who published it, where
    used_as: str  # which parameter it anchors, and how


class ParameterSet(_Strict):
    """What merchants do, in one of the three readings of the sources."""

    # The population's answer curve: PhoneBurner's hourly shape, scaled so that its mean over
    # the published hours 08:00-21:59 is this (a person answers).
    answer_mean: Probability
    # How far merchants' own hours differ from the population's: 0 = everyone follows the
    # published curve; 1 = each answers mostly around a peak hour of its own.
    habit_strength: Probability
    # Spread of merchants' overall answer level (lognormal sigma, mean 1).
    level_sigma: float = Field(ge=0, le=3)
    p_act_when_connected: Probability
    sms_p_act: Probability
    in_app_p_notice: Probability
    unprompted_p: Probability
    voicemail_share: Probability  # of calls no person answered, a voicemail picked up (billed)


class Costs(_Strict):
    """USD, the sandbox's list prices (twilio_sandbox/resources.py)."""

    sms_per_segment: float = Field(gt=0)
    sms_segments: int = Field(ge=1, le=10)
    call_per_minute: float = Field(gt=0)
    call_minutes_answered: int = Field(ge=1, le=30)


class AnchoredParams(_Strict):
    seeds: int = Field(ge=2, le=500)
    refunds: int = Field(ge=10, le=20000)
    merchants: int = Field(ge=1, le=20000)
    # Calls each contact has on record when the run starts (Poisson mean), at hours spread over
    # the day as earlier ladders placed them.
    history_calls: float = Field(ge=0, le=1000)
    sms_delay_hours: float = Field(gt=0, le=100)  # median, lognormal sigma 0.8
    notice_delay_hours: float = Field(gt=0, le=100)  # median, lognormal sigma 1.0
    decide_hours: float = Field(gt=0, le=100)  # median, lognormal sigma 0.6
    costs: Costs
    sources: dict[str, Source] = Field(min_length=1)
    sets: dict[str, ParameterSet]

    @model_validator(mode="after")
    def _three_sets(self) -> AnchoredParams:
        if tuple(self.sets) != SET_NAMES:
            raise ValueError(f"sets must be exactly {', '.join(SET_NAMES)}, in that order")
        return self
