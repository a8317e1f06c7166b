"""Request and response bodies of the HTTP API (separate from the tables in db/)."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from decimal import Decimal
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    WithJsonSchema,
    field_validator,
    model_validator,
)

from domain.money import MoneyError, to_minor
from domain.quiet_hours import parse_clock
from domain.vocabulary import Action, Resolution
from risk import RefundSignals

__all__ = [
    "AnswerRequest",
    "ContactIn",
    "DeadlineRequest",
    "MerchantIn",
    "MerchantOut",
    "PlatformEventOut",
    "RefundIn",
    "RefundIntakeOut",
    "ResolutionRequest",
    "RiskOut",
]

_E164 = re.compile(r"^\+[1-9][0-9]{6,14}$")
# Digits with an optional fraction: no sign, no exponent ("1e2" is not 100.00), no spaces.
AMOUNT_PATTERN = r"^[0-9]{1,16}(\.[0-9]{1,6})?$"
_ID = r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    @field_validator("*", mode="after")
    @classmethod
    def _no_nul(cls, value: Any) -> Any:
        # PostgreSQL text cannot hold NUL: refuse it here rather than fail at the write.
        if isinstance(value, str) and "\x00" in value:
            raise ValueError("must not contain NUL characters")
        return value


def _sane_instant(value: datetime) -> datetime:
    """An aware time we can store: converts to UTC without overflow, between 2000 and 2100."""
    try:
        utc = value.astimezone(UTC)
    except OverflowError:
        raise ValueError("is out of range") from None
    if not MIN_TIME <= utc <= MAX_TIME:
        raise ValueError("must be between 2000-01-01 and 2100-01-01 (UTC)")
    return value


MIN_TIME = datetime(2000, 1, 1, tzinfo=UTC)
MAX_TIME = datetime(2100, 1, 1, tzinfo=UTC)
Instant = Annotated[AwareDatetime, AfterValidator(_sane_instant)]
# Far above any refund, far below BIGINT: an amount beyond it is a mistake, not a refund.
MAX_AMOUNT_MINOR = 10**15


def _decimal_string(value: Any) -> Any:
    if isinstance(value, Decimal):  # from Python callers; JSON brings strings
        return value
    if isinstance(value, float):
        raise ValueError("send the amount as a decimal string such as '2400.00', not a float")
    if not isinstance(value, str) or not re.fullmatch(AMOUNT_PATTERN, value.strip()):
        raise ValueError(
            "must be a decimal string of digits with an optional fraction, e.g. '2400.00' "
            "(no sign, exponent or number type)"
        )
    return value.strip()


AmountString = Annotated[
    Decimal,
    BeforeValidator(_decimal_string),
    WithJsonSchema(
        {
            "type": "string",
            "pattern": AMOUNT_PATTERN,
            "description": "Decimal string in major units, e.g. '2400.00'; more than zero, with "
            "at most the currency's minor digits",
            "examples": ["2400.00"],
        }
    ),
]


class ContactIn(_Strict):
    phone: str = Field(
        description="E.164, e.g. +8613812345678",
        examples=["+8613812345678"],
        json_schema_extra={"pattern": _E164.pattern},
    )
    name: str = Field(min_length=1, max_length=200)
    priority: int = Field(ge=1, le=99, description="1 is called first")

    @field_validator("phone")
    @classmethod
    def _e164(cls, value: str) -> str:
        if not _E164.match(value):
            raise ValueError("must be an E.164 number: '+', country code, number, no spaces")
        return value


class QuietHoursIn(_Strict):
    start: str = Field(examples=["21:00"], description="Local time quiet hours begin (HH:MM)")
    end: str = Field(examples=["08:00"], description="Local time they end (HH:MM)")

    @field_validator("start", "end")
    @classmethod
    def _clock(cls, value: str) -> str:
        parse_clock(value)
        return value


class MerchantIn(_Strict):
    merchant_id: str = Field(pattern=_ID)
    name: str = Field(min_length=1, max_length=200)
    timezone: str = Field(examples=["Asia/Shanghai"])
    language: Literal["en", "zh-CN"] = "en"
    contacts: list[ContactIn] = Field(min_length=1, max_length=10)
    quiet_hours: QuietHoursIn | None = Field(
        default=None, description="Overrides the policy's default quiet hours for this merchant"
    )

    @field_validator("timezone")
    @classmethod
    def _tz(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError("unknown IANA timezone, e.g. Asia/Shanghai") from None
        return value

    @model_validator(mode="after")
    def _unique(self) -> MerchantIn:
        phones = [c.phone for c in self.contacts]
        if len(set(phones)) != len(phones):
            raise ValueError("contacts: the same phone number is listed twice")
        priorities = [c.priority for c in self.contacts]
        if len(set(priorities)) != len(priorities):
            raise ValueError("contacts: two contacts have the same priority")
        return self


class MerchantOut(BaseModel):
    merchant_id: str
    created: bool
    contacts: int


_LATER_FIELDS = ("evidence_window_hours",)
_LATER_SIGNALS = ("buyer_id", "device_id")


class RefundIn(_Strict):
    refund_id: str = Field(pattern=_ID)
    merchant_id: str = Field(pattern=_ID)
    order_id: str = Field(pattern=_ID)
    amount: AmountString = Field(gt=0)
    currency: str = Field(pattern=r"^[A-Z]{3}$", examples=["CNY"])
    reason: str = Field(default="", max_length=500)
    requested_at: Instant
    deadline_at: Instant = Field(
        description="Must be after requested_at. A deadline already past when the refund "
        "arrives is taken in all the same: its watch ends at once as timed_out and the amount "
        "is written to the loss ledger (docs/api.md)"
    )
    signals: RefundSignals = Field(default_factory=RefundSignals)
    evidence_window_hours: int | None = Field(
        None,
        ge=1,
        le=720,
        description="Hours the platform gives the merchant to submit evidence after a dispute; "
        "omitted = the policy's evidence window.",
    )

    @model_validator(mode="after")
    def _consistent(self) -> RefundIn:
        try:
            minor = to_minor(self.amount, self.currency)
        except MoneyError as exc:
            raise ValueError(f"amount: {exc}") from None
        if minor >= MAX_AMOUNT_MINOR:
            raise ValueError("amount: too large for a refund")
        if self.deadline_at <= self.requested_at:
            raise ValueError("deadline_at must be after requested_at")
        return self

    @property
    def amount_minor(self) -> int:
        return to_minor(self.amount, self.currency)

    def canonical(self) -> dict[str, Any]:
        """What a repeated intake is compared on: normalised so equal facts compare equal."""
        data = self.model_dump(mode="json")
        # Fields added after launch are left out when unset, so a retried intake of a refund
        # taken in before they existed still compares equal to what was stored.
        for key in _LATER_FIELDS:
            if data.get(key) is None:
                data.pop(key, None)
        for key in _LATER_SIGNALS:
            if data["signals"].get(key) is None:
                data["signals"].pop(key, None)
        data["amount"] = str(self.amount_minor)
        data["requested_at"] = self.requested_at.timestamp()
        data["deadline_at"] = self.deadline_at.timestamp()
        return data


class RiskReasonOut(BaseModel):
    code: str
    points: int
    text: str


class RiskOut(BaseModel):
    score: int
    level: str
    reasons: list[RiskReasonOut]


class RefundIntakeOut(BaseModel):
    refund_id: str
    tracked: bool
    risk: RiskOut
    workflow_id: str | None


MAX_BATCH = 500


class RefundBatchIn(_Strict):
    """Up to 500 refunds; each item is checked on its own (an item that is not a valid refund
    gets its own 422 result and the others are still taken)."""

    refunds: list[dict[str, Any]] = Field(min_length=1, max_length=MAX_BATCH)


class RefundBatchItemOut(BaseModel):
    index: int = Field(description="The item's position in the request")
    refund_id: str | None = Field(description="As sent (None when the item had none)")
    status: int = Field(
        description="What the single endpoint would answer: 201 taken, 200 the same refund was "
        "received before, 409 same refund_id with different content, 422 invalid or unknown "
        "merchant, 503 stored but its watch did not start (send the item again)"
    )
    refund: RefundIntakeOut | None = None
    error: Any = Field(None, description="The single endpoint's error detail, for 409/422/503")


class RefundBatchOut(BaseModel):
    results: list[RefundBatchItemOut]
    counts: dict[str, int] = Field(description="How many items got each status")


class ResolutionRequest(_Strict):
    resolution: Resolution
    event_id: str = Field(pattern=_ID, description="The platform's event id; repeats are ignored")
    resolved_at: Instant | None = None


class DeadlineRequest(_Strict):
    deadline_at: Instant
    event_id: str = Field(pattern=_ID)


class PlatformEventOut(BaseModel):
    refund_id: str
    event_id: str
    duplicate: bool
    state: str


class AnswerRequest(_Strict):
    action: Action = Field(
        description="reject: one-click rejection as abnormal, only for refunds the risk gate "
        "marked abnormal; the risk reasons are attached as evidence"
    )
    request_id: str = Field(pattern=_ID, description="Client-chosen id; a retry with it is ignored")
