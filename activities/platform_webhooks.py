"""Activities of the outbound webhooks: store an event once, deliver it until acknowledged.

The event row is written once (``insert_ignore`` on its deterministic id) with the payload built
from the database, so every attempt sends the same bytes. Each HTTP attempt is recorded in
``outbound_deliveries``; a 2xx sets ``delivered_at`` and from then on the event is never sent
again, however often the activity or its workflow runs.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import httpx
import structlog
from temporalio import activity
from temporalio.exceptions import ApplicationError

from config.settings import Settings
from db.audit import append_audit
from db.engine import SessionFactory
from db.models import OutboundDelivery, OutboundEvent, utcnow
from db.upsert import insert_ignore
from platform_webhooks.payloads import PayloadError, build_payload, encode_body
from platform_webhooks.sender import AttemptOutcome, post_event
from platform_webhooks.types import (
    GAVE_UP_PREFIX,
    NOT_CONFIGURED,
    AbandonInput,
    DeliverInput,
    DeliveryOptions,
    DeliveryResult,
    OutboundEventCreated,
    OutboundEventInput,
)

__all__ = ["OutboundActivities", "OutboundConfig"]

log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class OutboundConfig:
    url: str | None  # None: events are recorded, not sent
    secrets: list[str] = field(default_factory=list)  # the first signs; all sign during rotation
    timeout_s: float = 10.0
    delivery: DeliveryOptions = field(default_factory=DeliveryOptions)

    @classmethod
    def from_settings(cls, settings: Settings) -> OutboundConfig:
        return cls(
            url=settings.platform_webhook_url,
            secrets=[s.get_secret_value() for s in settings.platform_webhook_secrets],
            timeout_s=float(settings.platform_webhook_timeout_s),
            delivery=DeliveryOptions(
                max_retry_interval_s=settings.platform_webhook_max_retry_interval_s,
                give_up_after_s=settings.platform_webhook_give_up_after_s,
            ),
        )

    def http_client(self) -> httpx.AsyncClient:
        """The client the worker hands to :class:`OutboundActivities` (and closes)."""
        timeout = httpx.Timeout(self.timeout_s, connect=min(5.0, self.timeout_s))
        return httpx.AsyncClient(timeout=timeout, follow_redirects=False)


class OutboundActivities:
    def __init__(self, sessions: SessionFactory, http: httpx.AsyncClient, config: OutboundConfig):
        self._sessions = sessions
        self._http = http
        self._config = config

    def all(self) -> list[Callable[..., Any]]:
        return [
            self.create_outbound_event,
            self.deliver_outbound_event,
            self.abandon_outbound_event,
        ]

    @activity.defn(name="create_outbound_event")
    async def create_outbound_event(self, event: OutboundEventInput) -> OutboundEventCreated:
        async with self._sessions() as session:
            now = utcnow()
            try:
                payload = await build_payload(session, event, now)
            except PayloadError as err:
                raise ApplicationError(
                    str(err), type="BadOutboundEvent", non_retryable=True
                ) from None
            created = await insert_ignore(
                session,
                OutboundEvent,
                {
                    "event_id": event.event_id,
                    "refund_id": event.refund_id,
                    "merchant_id": event.merchant_id,
                    "type": event.type,
                    "payload": payload,
                    "created_at": now,
                    "attempts": 0,
                },
                ["event_id"],
            )
            await session.commit()
        self._log(event.event_id, event.refund_id, event.merchant_id).info(
            "outbound_event_created", type=event.type, created=created
        )
        return OutboundEventCreated(event.event_id, self._config.delivery)

    @activity.defn(name="deliver_outbound_event")
    async def deliver_outbound_event(self, request: DeliverInput) -> str:
        async with self._sessions() as session:
            event = await session.get(OutboundEvent, request.event_id)
            if event is None:
                raise ApplicationError(
                    f"outbound event {request.event_id} not found", non_retryable=True
                )
            logger = self._log(event.event_id, event.refund_id, event.merchant_id).bind(
                type=event.type
            )
            if event.delivered_at is not None:
                logger.info("outbound_already_delivered")
                return DeliveryResult.ALREADY_DELIVERED
            if self._config.url is None:
                if event.last_error != NOT_CONFIGURED:  # warn once per event, not per retry
                    event.last_error = NOT_CONFIGURED
                    session.add(event)
                    await session.commit()
                    logger.warning("outbound_not_sent", reason=NOT_CONFIGURED)
                return DeliveryResult.NOT_CONFIGURED
            body = encode_body(event.payload)
            event_type, attempt = event.type, event.attempts + 1

        outcome = await post_event(
            self._http,
            self._config.url,
            self._config.secrets,
            event_id=request.event_id,
            event_type=event_type,
            body=body,
            attempt=attempt,
        )
        attempt = await self._record(request.event_id, outcome)
        logger = logger.bind(attempt=attempt, status_code=outcome.status_code)
        if outcome.acknowledged:
            logger.info("outbound_delivered", duration_ms=outcome.duration_ms)
            return DeliveryResult.DELIVERED
        if outcome.refused:
            logger.warning("outbound_refused")
            return DeliveryResult.REFUSED
        logger.warning("outbound_not_acknowledged", error=outcome.error)
        delay = None
        if outcome.retry_after_s is not None:
            capped = min(outcome.retry_after_s, request.max_retry_interval_s)
            delay = timedelta(seconds=max(1, capped))
        raise ApplicationError(
            f"platform did not acknowledge {request.event_id}: {outcome.error}",
            type="WebhookNotAcknowledged",
            next_retry_delay=delay,
        )

    async def _record(self, event_id: str, outcome: AttemptOutcome) -> int:
        """Count the attempt and keep its row; on 2xx mark the event delivered. Returns n."""
        async with self._sessions() as session:
            event = await session.get(OutboundEvent, event_id, with_for_update=True)
            assert event is not None
            event.attempts += 1
            now = utcnow()
            session.add(
                OutboundDelivery(
                    event_id=event_id,
                    attempt=event.attempts,
                    status_code=outcome.status_code,
                    error=outcome.error,
                    duration_ms=outcome.duration_ms,
                    at=now,
                )
            )
            kind: str | None = None
            if outcome.acknowledged:
                event.delivered_at, event.last_error, kind = now, None, "webhook.acknowledged"
            elif outcome.refused:
                event.last_error = f"refused: {outcome.error}"[:500]
                kind = "webhook.refused"
            else:
                event.last_error = outcome.error
            session.add(event)
            if kind is not None:
                await append_audit(
                    session,
                    kind=kind,
                    actor="platform",
                    refund_id=event.refund_id,
                    merchant_id=event.merchant_id,
                    detail={"type": event.type, "event_id": event_id, "attempts": event.attempts},
                    dedup_key=f"{event_id}:{kind}",
                )
            await session.commit()
            return event.attempts

    @activity.defn(name="abandon_outbound_event")
    async def abandon_outbound_event(self, request: AbandonInput) -> None:
        async with self._sessions() as session:
            event = await session.get(OutboundEvent, request.event_id, with_for_update=True)
            if event is None or event.delivered_at is not None:
                return
            last = f"; last error: {event.last_error}" if event.last_error else ""
            event.last_error = (GAVE_UP_PREFIX + request.reason + last)[:500]
            session.add(event)
            await append_audit(
                session,
                kind="webhook.abandoned",
                actor="refundwatch",
                refund_id=event.refund_id,
                merchant_id=event.merchant_id,
                detail={"type": event.type, "event_id": event.event_id, "attempts": event.attempts},
                dedup_key=f"{event.event_id}:webhook.abandoned",
            )
            await session.commit()
            self._log(event.event_id, event.refund_id, event.merchant_id).error(
                "outbound_abandoned", type=event.type, attempts=event.attempts
            )

    @staticmethod
    def _log(event_id: str, refund_id: str, merchant_id: str) -> Any:
        return log.bind(event_id=event_id, refund_id=refund_id, merchant_id=merchant_id)
