"""The money-saved simulation's parameters file: YAML, validated, every figure an assumption.

``load_params`` refuses a bad file with one line per problem naming the field
(``behaviour.call.p_pickup: Input should be less than or equal to 1``), as the policy file does.
Money is quoted decimal strings in major units (a YAML float is refused); probabilities and
durations are plain numbers.
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from bench.anchored_params import AnchoredParams
from domain.money import MoneyError, to_minor

__all__ = [
    "SIGNAL_KINDS",
    "CurrencyMix",
    "Delay",
    "ParamsError",
    "SignalKind",
    "SimulationParams",
    "load_params",
    "parse_params",
]

REPO = Path(__file__).resolve().parents[1]
Probability = Annotated[float, Field(ge=0, le=1)]
# Signals the population can carry on an abnormal refund; each maps to a rule of the risk gate.
SIGNAL_KINDS = (
    "empty_package",
    "swapped_item",
    "weight_mismatch",
    "return_not_received",
    "no_tracking",
    "buyer_refund_count",
    "device_shared_accounts",
    "new_buyer_account",
    "refund_only_after_delivery",
)
SignalKind = Literal[
    "empty_package",
    "swapped_item",
    "weight_mismatch",
    "return_not_received",
    "no_tracking",
    "buyer_refund_count",
    "device_shared_accounts",
    "new_buyer_account",
    "refund_only_after_delivery",
]


class ParamsError(ValueError):
    """A parameters file that cannot be used; the message names the file and each field."""


def _money(value: object) -> object:
    if isinstance(value, float):
        raise ValueError("quote money as a decimal string such as '1200.00', not a float")
    if isinstance(value, int) and not isinstance(value, bool):
        return Decimal(value)
    return value


Money = Annotated[Decimal, BeforeValidator(_money), Field(gt=0)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Delay(_Strict):
    """A lognormal delay in policy hours: ``median`` and the spread ``sigma`` of its log."""

    median: float = Field(gt=0, le=1000)
    sigma: float = Field(ge=0, le=5)


class CurrencyMix(_Strict):
    merchant_share: float = Field(gt=0, description="relative share of merchants")
    median: Money
    sigma: float = Field(ge=0, le=5)
    min: Money
    max: Money
    language: Literal["en", "zh-CN"] = "en"
    timezone: str = "UTC"

    @model_validator(mode="after")
    def _range(self) -> CurrencyMix:
        if not self.min <= self.median <= self.max:
            raise ValueError("need min <= median <= max")
        return self


class Population(_Strict):
    refunds: int = Field(ge=1, le=5000)
    merchants: int = Field(ge=1, le=5000)
    merchant_size_skew: float = Field(
        default=0.5, ge=0, le=3, description="Zipf exponent of refunds per merchant"
    )
    backup_contact_share: Probability = 0.4
    arrivals_over_hours: float = Field(ge=0, le=240)
    deadline_hours: tuple[float, float]
    abnormal_share: Probability
    abnormal_signals: dict[SignalKind, float] = Field(min_length=1)
    currencies: dict[str, CurrencyMix] = Field(min_length=1)

    @field_validator("deadline_hours")
    @classmethod
    def _deadlines(cls, value: tuple[float, float]) -> tuple[float, float]:
        low, high = value
        if not 0 < low <= high <= 24 * 30:
            raise ValueError("give [shortest, longest] hours with 0 < shortest <= longest")
        return value

    @field_validator("abnormal_signals")
    @classmethod
    def _weights(cls, value: dict[str, float]) -> dict[str, float]:
        if any(weight < 0 for weight in value.values()) or not any(value.values()):
            raise ValueError("weights must be >= 0 and at least one above 0")
        return value

    @model_validator(mode="after")
    def _currencies(self) -> Population:
        for code, mix in self.currencies.items():
            try:
                for amount in (mix.median, mix.min, mix.max):
                    to_minor(amount, code)
            except MoneyError as exc:
                raise ValueError(f"currencies.{code}: {exc}") from None
            if len(code) != 3 or not code.isupper():
                raise ValueError(f"currencies.{code}: an ISO 4217 code such as CNY")
        return self


class Unprompted(_Strict):
    p: Probability = Field(description="handles the refund with no alert at all")


class InApp(_Strict):
    p_notice: Probability
    delay_hours: Delay


class Sms(_Strict):
    p_act: Probability
    delay_hours: Delay


class Call(_Strict):
    p_pickup: Probability = Field(description="a person picks up")
    p_voicemail: Probability = 0.0
    p_busy: Probability = 0.0
    p_act_when_connected: Probability

    @model_validator(mode="after")
    def _outcomes(self) -> Call:
        if self.p_pickup + self.p_voicemail + self.p_busy > 1:
            raise ValueError("p_pickup + p_voicemail + p_busy must not exceed 1")
        return self


class Behaviour(_Strict):
    unprompted: Unprompted
    in_app: InApp
    sms: Sms
    call: Call
    decide_hours: Delay


class TimeCompression(_Strict):
    seconds_per_policy_hour: float = Field(gt=0, le=60)
    # Real seconds, not scaled: what a call takes in the sandbox does not shrink with the clock.
    call_result_timeout_s: int = Field(default=8, ge=1, le=600)
    grace_s: float = Field(default=15, ge=0, le=600)


class PolicySource(_Strict):
    base: Path

    @field_validator("base")
    @classmethod
    def _exists(cls, value: Path) -> Path:
        if not value.is_file():
            raise ValueError(f"file {value} does not exist")
        return value


class MoneyReport(_Strict):
    report_currency: str = Field(pattern=r"^[A-Z]{3}$")
    rates: dict[str, Annotated[Decimal, BeforeValidator(_money), Field(gt=0)]]


class Sending(_Strict):
    calls_per_second: int = Field(default=20, ge=1, le=1000)
    sms_per_second: int = Field(default=20, ge=1, le=1000)
    sms_per_merchant_per_hour: int = Field(default=100, ge=1, le=100)


class SimulationParams(_Strict):
    seed: int = 7
    population: Population
    behaviour: Behaviour
    time: TimeCompression
    policy: PolicySource
    money: MoneyReport
    sending: Sending = Sending()
    # The anchored model simulation (bench/simulate_anchored.py); the stack run ignores it.
    anchored: AnchoredParams | None = None

    @model_validator(mode="after")
    def _rates(self) -> SimulationParams:
        # Twilio prices come in USD: the report converts them with the same table.
        needed = {*self.population.currencies, self.money.report_currency, "USD"}
        missing = sorted(needed - set(self.money.rates))
        if missing:
            raise ValueError(f"money.rates: no rate for {', '.join(missing)}")
        if self.money.rates[self.money.report_currency] != 1:
            raise ValueError("money.rates: the report currency's own rate must be 1")
        return self

    def with_overrides(
        self, *, seed: int | None = None, refunds: int | None = None
    ) -> SimulationParams:
        """The same parameters with the command line's --seed / --refunds, validated again."""
        raw = self.model_dump(mode="python")
        if seed is not None:
            raw["seed"] = seed
        if refunds is not None:
            raw["population"]["refunds"] = refunds
        return parse_params(raw, source="command line")

    def hours_to_seconds(self, hours: float) -> float:
        return hours * self.time.seconds_per_policy_hour


def _describe(exc: ValidationError) -> str:
    return "; ".join(
        f"{'.'.join(str(part) for part in err['loc']) or '(file)'}: {err['msg']}"
        for err in exc.errors()
    )


def parse_params(raw: Any, *, source: str = "parameters") -> SimulationParams:
    """Validate already-parsed YAML. A relative ``policy.base`` that does not exist from the
    current directory is taken from the repository root."""
    if isinstance(raw, dict):
        policy = raw.get("policy")
        if isinstance(policy, dict) and isinstance(policy.get("base"), str):
            base = Path(policy["base"])
            if not base.is_absolute() and not base.exists() and (REPO / base).exists():
                raw = {**raw, "policy": {**policy, "base": str(REPO / base)}}
    try:
        return SimulationParams.model_validate(raw)
    except ValidationError as exc:
        raise ParamsError(f"{source}: {_describe(exc)}") from None


def load_params(path: Path) -> SimulationParams:
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ParamsError(f"{path}: cannot read the parameters file ({exc.strerror})") from None
    except yaml.YAMLError as exc:
        raise ParamsError(f"{path}: not valid YAML: {exc}") from None
    return parse_params(raw, source=str(path))
