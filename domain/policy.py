"""The escalation policy as the workflow sees it: a frozen snapshot taken at start.

The file format and its validation live in ``config/policy_file.py``; this module holds only the
plain dataclasses that travel in the workflow input, so a policy edit never changes a running
workflow behind its back. Durations are whole seconds to keep the payload simple and exact.
"""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = [
    "CallSettings",
    "CallTimesPolicy",
    "DisputePolicy",
    "EscalationPolicy",
    "SmsSettings",
    "StepSpec",
]


@dataclass(frozen=True)
class StepSpec:
    name: str
    channel: str  # in_app | sms | call
    # Seconds before the deadline; None means "at intake".
    before_deadline_s: int | None = None
    retries: int = 0
    retry_backoff_s: int = 60


@dataclass(frozen=True)
class CallSettings:
    # How long to wait for a call's final status before asking Twilio for it (and, if it has
    # none either, treating the call as unanswered).
    result_timeout_s: int = 120
    machine_detection: bool = True


@dataclass(frozen=True)
class SmsSettings:
    # How long after Twilio took an SMS to ask it for the delivery, if no report came: an
    # undelivered SMS must still bring the call forward when its callback was lost.
    report_timeout_s: int = 300


@dataclass(frozen=True)
class CallTimesPolicy:
    """Learned call times (domain/call_times.py, domain/answer_odds.py): a call step moves,
    inside its window, to the hour its contact is most likely to answer.

    Off unless the policy file says otherwise (the file's default is on): a snapshot taken
    before this setting existed decodes with it off."""

    enabled: bool = False
    # The prior's curve (domain.answer_odds.PRIOR_CURVES) and the factor applied to it.
    prior: str = "phoneburner_hiya"
    # How many calls the prior weighs, per hour: the contact's own calls outweigh it soon.
    prior_weight: float = 4.0
    # A move needs at least this much more chance of an answer (absolute, 0–1).
    min_gain: float = 0.05
    # How far a call may move from where the ladder put it, either way.
    max_shift_s: int = 6 * 3600
    # The final call never moves later than this before the deadline (time to act on it).
    final_reserve_s: int = 1800
    # How far back the contact's calls are read.
    history_days: int = 90


@dataclass(frozen=True)
class DisputePolicy:
    """After a dispute: how long the merchant has to submit evidence, and the lighter ladder
    ("evidence still missing, N hours left") placed before that evidence deadline."""

    evidence_window_s: int = 86400
    steps: list[StepSpec] = field(default_factory=list)


@dataclass(frozen=True)
class EscalationPolicy:
    version: str
    steps: list[StepSpec]
    call: CallSettings = field(default_factory=CallSettings)
    sms: SmsSettings = field(default_factory=SmsSettings)
    # Offsets are multiplied by this factor per risk level: riskier refunds are reached earlier.
    risk_scaling: dict[str, float] = field(default_factory=dict)
    # How many contacts (by priority) a call step may try, per risk level; 0 = all.
    contacts_by_level: dict[str, int] = field(default_factory=dict)
    # Two planned steps are never closer than this; the ones that cannot fit are skipped.
    min_step_gap_s: int = 300
    # After "I'll handle it", one in-app reminder this long before the deadline.
    acknowledged_reminder_s: int = 7200
    # Default quiet hours in the merchant's local time ("HH:MM"); None = no quiet hours.
    # The API turns them into UTC windows; the workflow never reads time zones itself.
    quiet_start: str | None = "21:00"
    quiet_end: str | None = "08:00"
    dispute: DisputePolicy = field(default_factory=DisputePolicy)
    call_times: CallTimesPolicy = field(default_factory=CallTimesPolicy)

    def scaling_for(self, level: str) -> float:
        return self.risk_scaling.get(level, 1.0)

    def contacts_for(self, level: str) -> int:
        return self.contacts_by_level.get(level, 1)
