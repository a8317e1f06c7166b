"""What a provider reports about one of our sends: recorded once on its attempt, then the
watch is told when the report is final. The webhook edge has already put it in our words."""

from __future__ import annotations

from dataclasses import dataclass

import structlog

from application.services import Services
from application.watch_client import signal_watch
from db.attempts import attempt_by_key, record_report
from domain.vocabulary import Answerer, Channel, DeliveryState
from notifier.twilio_words import answerer
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
    sequence: int | None = None  # calls: Twilio's SequenceNumber of the callback


async def take_delivery_report(services: Services, report: ProviderReport) -> None:
    """Record the report on its attempt (a repeat changes nothing); tell the watch when the
    send is finished. A repeated or out-of-order report changes nothing recorded; a final
    one is told to the watch again (it ignores what it has seen). Raises WatchUnreachable
    when the watch could not be told."""
    async with services.sessions() as session:
        attempt = await attempt_by_key(session, report.idempotency_key, for_update=True)
        if attempt is None:
            log.warning("report_for_unknown_attempt", idempotency_key=report.idempotency_key)
            return
        changed = record_report(
            attempt,
            report.state,
            source="provider",
            sid=report.provider_sid,
            error_code=report.error_code,
            raw_answered_by=report.raw_answered_by,
            duration_s=report.duration_s,
            sequence=report.sequence,
        )
        session.add(attempt)
        await session.commit()
        # A repeat, or a late report after the final one: the watch hears what is recorded.
        state = report.state if changed else _recorded_state(attempt.status, report.state)
        # Who answered comes with the AMD result (its own callback) or the TwiML request,
        # never with status callbacks: read it from the attempt, where those recorded it.
        answered_by = report.answered_by or answerer(attempt.answered_by)
        refund_id = attempt.refund_id
    if state in DeliveryState.final_for(report.channel):
        await signal_watch(
            services,
            refund_id,
            "delivery_reported",
            DeliveryReport(
                report.idempotency_key,
                report.channel,
                state,
                report.error_code,
                answered_by,
            ),
        )


def _recorded_state(status: str, reported: DeliveryState) -> DeliveryState:
    try:
        return DeliveryState(status)
    except ValueError:  # still one of our own lifecycle words: nothing newer recorded
        return reported
