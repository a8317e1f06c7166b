"""What a provider reports about one of our sends: recorded once on its attempt, then the
watch is told when the report is final. The webhook edge has already put it in our words."""

from __future__ import annotations

from dataclasses import dataclass

import structlog

from application.services import Services
from application.watch_client import signal_watch
from db.attempts import append_status, attempt_by_key
from domain.vocabulary import Answerer, Channel, DeliveryState
from workflows.inputs import DeliveryReport

__all__ = ["ProviderReport", "take_delivery_report"]

log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class ProviderReport:
    idempotency_key: str  # from our callback URL
    channel: Channel
    state: DeliveryState
    provider_sid: str | None = None
    error_code: int | None = None
    answered_by: Answerer | None = None
    # As the provider said them, for the attempt's record.
    raw_answered_by: str | None = None
    duration_s: int | None = None


async def take_delivery_report(services: Services, report: ProviderReport) -> None:
    """Record the report on its attempt (a repeat changes nothing); tell the watch when the
    send is finished. Raises WatchUnreachable when the watch could not be told."""
    async with services.sessions() as session:
        attempt = await attempt_by_key(session, report.idempotency_key, for_update=True)
        if attempt is None:
            log.warning("report_for_unknown_attempt", idempotency_key=report.idempotency_key)
            return
        if attempt.provider_sid is None and report.provider_sid:
            attempt.provider_sid = report.provider_sid  # a send whose reply we never saw
        changed = append_status(
            attempt,
            report.state,
            source="provider",
            error_code=report.error_code,
            answered_by=report.raw_answered_by,
            duration=str(report.duration_s) if report.duration_s is not None else None,
        )
        if changed:
            attempt.error_code = report.error_code or attempt.error_code
            attempt.answered_by = report.raw_answered_by or attempt.answered_by
            if report.duration_s is not None:
                attempt.duration_seconds = report.duration_s
            session.add(attempt)
            await session.commit()
        refund_id = attempt.refund_id
    if report.state in DeliveryState.final_for(report.channel):
        await signal_watch(
            services,
            refund_id,
            "delivery_reported",
            DeliveryReport(
                report.idempotency_key,
                report.channel,
                report.state,
                report.error_code,
                report.answered_by,
            ),
        )
