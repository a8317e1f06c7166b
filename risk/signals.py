"""What the platform tells us about a refund beyond its amount (the API's `signals` object)."""

from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["LogisticsAnomaly", "RefundSignals"]


class LogisticsAnomaly(StrEnum):
    NO_TRACKING = "no_tracking"
    EMPTY_PACKAGE = "empty_package"
    SWAPPED_ITEM = "swapped_item"
    WEIGHT_MISMATCH = "weight_mismatch"
    RETURN_NOT_RECEIVED = "return_not_received"


class RefundSignals(BaseModel):
    """Every field is optional: an unknown value (None) is simply not scored."""

    model_config = ConfigDict(extra="forbid")

    buyer_id: str | None = Field(
        None,
        min_length=1,
        max_length=128,
        pattern=r"^[A-Za-z0-9._:-]+$",
        description="The platform's opaque buyer id; refundwatch keeps each buyer's outcomes.",
    )
    device_id: str | None = Field(
        None,
        min_length=1,
        max_length=128,
        pattern=r"^[A-Za-z0-9._:-]+$",
        description="The platform's opaque device fingerprint of the request.",
    )
    buyer_refund_count: int | None = Field(
        None, ge=0, description="Refunds this buyer requested in the last 90 days."
    )
    buyer_account_age_days: int | None = Field(
        None, ge=0, description="Age of the buyer's account, in days."
    )
    device_shared_accounts: int | None = Field(
        None,
        ge=0,
        description="Distinct accounts seen on the buyer's device, the buyer's own included.",
    )
    logistics: list[LogisticsAnomaly] = Field(
        default_factory=list,
        description="Anomalies reported by the carrier or the merchant's warehouse.",
    )
    refund_only_after_delivery: bool = Field(
        False,
        description='A "refund only" (no return of the goods) requested after delivery.',
    )
    repeat_requests: int | None = Field(
        None,
        ge=0,
        description="How many times a refund was requested for this order, this one included.",
    )
