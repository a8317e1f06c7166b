"""How scripted merchants behave, per phone number (YAML scenario file or the control API)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

__all__ = [
    "CallBehaviour",
    "CreateError",
    "NumberBehaviour",
    "Scenario",
    "ScenarioError",
    "SmsBehaviour",
    "load_scenario",
]


class ScenarioError(ValueError):
    pass


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class CallBehaviour(_Strict):
    answer: Literal["human", "machine", "busy", "no-answer", "failed"] = "no-answer"
    # Keys pressed at successive <Gather>s; "" = stays silent at that Gather.
    digits: list[str] = Field(default_factory=list)
    ring_seconds: float | None = Field(default=None, ge=0, le=60)


class SmsBehaviour(_Strict):
    status: Literal["delivered", "undelivered", "failed"] = "delivered"
    error_code: int | None = None


class CreateError(_Strict):
    code: int
    status: int = 400
    message: str = "The request was refused"
    channel: Literal["sms", "call", "any"] = "any"


class NumberBehaviour(_Strict):
    sms: list[SmsBehaviour] = Field(default_factory=list)
    calls: list[CallBehaviour] = Field(default_factory=list)
    create_error: CreateError | None = None


class Scenario(_Strict):
    default: NumberBehaviour = Field(
        default_factory=lambda: NumberBehaviour(sms=[SmsBehaviour()], calls=[CallBehaviour()])
    )
    numbers: dict[str, NumberBehaviour] = Field(default_factory=dict)

    def for_number(self, phone: str) -> NumberBehaviour:
        return self.numbers.get(phone, self.default)


def load_scenario(path: Path) -> Scenario:
    try:
        return Scenario.model_validate(yaml.safe_load(path.read_text(encoding="utf-8")) or {})
    except OSError as exc:
        raise ScenarioError(f"{path}: cannot read the scenario ({exc.strerror})") from None
    except yaml.YAMLError as exc:
        raise ScenarioError(f"{path}: not valid YAML: {exc}") from None
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or '(file)'}: {e['msg']}" for e in exc.errors()
        )
        raise ScenarioError(f"{path}: {problems}") from None
