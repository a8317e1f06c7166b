"""A stand-in for the refund watch in the webhook tests: it tells the platform one thing, the way
the watch does (``tell_platform``), and finishes without waiting for delivery."""

from __future__ import annotations

from dataclasses import dataclass

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from platform_webhooks.types import DeliveryOptions
    from workflows.platform_webhooks import tell_platform

__all__ = ["TellInput", "TellPlatformWorkflow"]


@dataclass(frozen=True)
class TellInput:
    kind: str
    refund_id: str
    merchant_id: str
    key: str = "1"
    evidence_id: int | None = None
    delivery: DeliveryOptions | None = None


@workflow.defn
class TellPlatformWorkflow:
    @workflow.run
    async def run(self, params: TellInput) -> str:
        return await tell_platform(
            params.kind,
            params.refund_id,
            params.merchant_id,
            params.key,
            evidence_id=params.evidence_id,
            delivery=params.delivery,
        )
