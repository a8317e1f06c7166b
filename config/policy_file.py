"""The escalation policy file: YAML, validated at load, turned into a workflow snapshot."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Literal

import yaml
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError, model_validator

from domain.answer_odds import PRIOR_CURVES
from domain.policy import (
    CallSettings,
    CallTimesPolicy,
    DisputePolicy,
    EscalationPolicy,
    SmsSettings,
    StepSpec,
)
from domain.quiet_hours import parse_clock

__all__ = ["PolicyError", "load_policy", "parse_duration"]

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|m|h|d)\s*$")
_UNIT = {"s": 1, "m": 60, "h": 3600, "d": 86400}
_LEVELS = ("low", "medium", "high", "critical")


class PolicyError(ValueError):
    pass


def parse_duration(value: object) -> int:
    """'90s', '5m', '24h', '2d' or a number of seconds → whole seconds."""
    if isinstance(value, bool):
        raise ValueError("a duration such as 90s, 5m, 24h")
    if isinstance(value, int | float):
        seconds = float(value)
    else:
        match = _DURATION.match(str(value))
        if not match:
            raise ValueError(f"{value!r} is not a duration such as 90s, 5m, 24h")
        seconds = float(match.group(1)) * _UNIT[match.group(2)]
    if seconds < 0:
        raise ValueError("durations cannot be negative")
    return int(seconds)


Duration = Annotated[int, BeforeValidator(parse_duration)]


class _Step(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(pattern=r"^[a-z][a-z0-9_]{0,39}$")
    channel: Literal["in_app", "sms", "call"]
    at: Literal["intake"] | None = None
    before_deadline: Duration | None = None
    retries: int = Field(default=0, ge=0, le=10)
    retry_backoff: Duration = 60

    @model_validator(mode="after")
    def _when(self) -> _Step:
        if (self.at is None) == (self.before_deadline is None):
            raise ValueError("give exactly one of `at: intake` or `before_deadline`")
        if self.retries and self.channel != "call":
            raise ValueError("only call steps retry")
        return self


class _Call(BaseModel):
    model_config = ConfigDict(extra="forbid")
    result_timeout: Duration = 120
    machine_detection: bool = True


class _Sms(BaseModel):
    model_config = ConfigDict(extra="forbid")
    report_timeout: Duration = Field(default=300, gt=0)


class _Acknowledged(BaseModel):
    model_config = ConfigDict(extra="forbid")
    reminder_before_deadline: Duration = 7200


class _QuietHours(BaseModel):
    model_config = ConfigDict(extra="forbid")
    start: str
    end: str

    @model_validator(mode="after")
    def _clock(self) -> _QuietHours:
        parse_clock(self.start)
        parse_clock(self.end)
        return self


class _CallTimes(BaseModel):
    """Learned call times (docs/policy.md#learned-call-times); on unless switched off."""

    model_config = ConfigDict(extra="forbid")
    enabled: bool = True
    prior: str = "phoneburner_hiya"
    prior_weight: float = Field(default=4.0, gt=0, le=1000)
    min_gain: float = Field(default=0.05, ge=0, le=1)
    max_shift: Duration = 6 * 3600
    final_reserve: Duration = 1800
    history_days: int = Field(default=90, ge=1, le=3650)

    @model_validator(mode="after")
    def _known_prior(self) -> _CallTimes:
        if self.prior not in PRIOR_CURVES:
            raise ValueError(f"prior must be one of {', '.join(sorted(PRIOR_CURVES))}")
        return self


class _Dispute(BaseModel):
    """``before_deadline`` of these steps counts back from the evidence deadline;
    ``at: intake`` means when the dispute is opened."""

    model_config = ConfigDict(extra="forbid")
    evidence_window: Duration = Field(default=86400, gt=0)
    steps: list[_Step] = []


def _step_specs(steps: list[_Step]) -> list[StepSpec]:
    return [
        StepSpec(
            name=step.name,
            channel=step.channel,
            before_deadline_s=step.before_deadline,
            retries=step.retries,
            retry_backoff_s=step.retry_backoff,
        )
        for step in steps
    ]


class _PolicyFile(BaseModel):
    model_config = ConfigDict(extra="forbid")
    version: str = Field(min_length=1, max_length=64)
    steps: list[_Step] = Field(min_length=1)
    call: _Call = _Call()
    sms: _Sms = _Sms()
    risk_scaling: dict[Literal["low", "medium", "high", "critical"], float] = {}
    contacts_by_level: dict[Literal["low", "medium", "high", "critical"], int] = {}
    min_step_gap: Duration = 300
    acknowledged: _Acknowledged = _Acknowledged()
    quiet_hours: _QuietHours | None = None
    dispute: _Dispute = _Dispute()
    call_times: _CallTimes = _CallTimes()

    @model_validator(mode="after")
    def _consistent(self) -> _PolicyFile:
        names = [step.name for step in self.steps + self.dispute.steps]
        if len(set(names)) != len(names):
            raise ValueError("step names must be unique, dispute steps included")
        if any(factor <= 0 or factor > 10 for factor in self.risk_scaling.values()):
            raise ValueError("risk_scaling factors must be between 0 and 10")
        if any(count < 0 for count in self.contacts_by_level.values()):
            raise ValueError("contacts_by_level must be 0 (all) or more")
        return self


def load_policy(path: Path) -> EscalationPolicy:
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
        parsed = _PolicyFile.model_validate(raw)
    except OSError as exc:
        raise PolicyError(f"{path}: cannot read the policy file ({exc.strerror})") from None
    except yaml.YAMLError as exc:
        raise PolicyError(f"{path}: not valid YAML: {exc}") from None
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or '(file)'}: {err['msg']}"
            for err in exc.errors()
        )
        raise PolicyError(f"{path}: {problems}") from None
    return EscalationPolicy(
        version=parsed.version,
        steps=_step_specs(parsed.steps),
        call=CallSettings(
            result_timeout_s=parsed.call.result_timeout,
            machine_detection=parsed.call.machine_detection,
        ),
        sms=SmsSettings(report_timeout_s=parsed.sms.report_timeout),
        risk_scaling={str(level): factor for level, factor in parsed.risk_scaling.items()},
        contacts_by_level={str(level): n for level, n in parsed.contacts_by_level.items()},
        min_step_gap_s=parsed.min_step_gap,
        acknowledged_reminder_s=parsed.acknowledged.reminder_before_deadline,
        quiet_start=parsed.quiet_hours.start if parsed.quiet_hours else None,
        quiet_end=parsed.quiet_hours.end if parsed.quiet_hours else None,
        dispute=DisputePolicy(
            evidence_window_s=parsed.dispute.evidence_window,
            steps=_step_specs(parsed.dispute.steps),
        ),
        call_times=CallTimesPolicy(
            enabled=parsed.call_times.enabled,
            prior=parsed.call_times.prior,
            prior_weight=parsed.call_times.prior_weight,
            min_gain=parsed.call_times.min_gain,
            max_shift_s=parsed.call_times.max_shift,
            final_reserve_s=parsed.call_times.final_reserve,
            history_days=parsed.call_times.history_days,
        ),
    )
