"""SMS and calls: the send activity, claim-before-send so that a retry never sends twice.

One send is: wait for a slot of the shared rate limit (before any claim, with no session open),
decide with :func:`domain.sending.hold_for` whether it may go out, claim its idempotency key,
call the provider, record what the provider said. What each step records is in db/attempts.py.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import timedelta
from typing import Any

from sqlmodel.ext.asyncio.session import AsyncSession
from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.common import audit_attempt, load_refund, logger_for, record_stage_change
from activities.send_facts import (
    SendConfig,
    SendContext,
    deliver,
    link_for,
    message_body,
    other_open_refunds,
    read_send_facts,
    resume_earlier,
)
from activities.send_settle import is_unsettled, settle
from activities.types import SendInput, SendResult
from db.attempts import append_status, attempt_by_key, claim_attempt, mark_accepted
from db.engine import SessionFactory
from db.models import Contact, NotificationAttempt, Refund
from domain.sending import Hold, hold_for
from domain.sms_length import sms_length
from domain.vocabulary import AttemptState, Channel, Purpose, SendStatus
from messages.facts import message_facts
from notifier.base import (
    OPTED_OUT,
    AmbiguousProviderError,
    FinalProviderError,
    Notifier,
    RetryableProviderError,
)
from pacing import Pacer, send_worth

__all__ = ["SendActivities", "SendConfig"]


class SendActivities:
    def __init__(
        self,
        sessions: SessionFactory,
        notifier: Notifier,
        config: SendConfig,
        pacer: Pacer | None = None,
    ) -> None:
        self._sessions = sessions
        self._notifier = notifier
        self._config = config
        self._pacer = pacer  # None = unpaced (unit tests)

    def all(self) -> list[Callable[..., Any]]:
        return [self.send_sms, self.place_call]

    @activity.defn(name="send_sms")
    async def send_sms(self, request: SendInput) -> SendResult:
        return await self._send(request, Channel.SMS)

    @activity.defn(name="place_call")
    async def place_call(self, request: SendInput) -> SendResult:
        return await self._send(request, Channel.CALL)

    async def _send(self, request: SendInput, channel: Channel) -> SendResult:
        key = request.idempotency_key
        logger = logger_for(request.refund_id, request.merchant_id, request.workflow_id).bind(
            channel=channel, step=request.step, idempotency_key=key
        )
        # Wait for a slot of the shared rate limit BEFORE claiming the key, with no session
        # open: an attempt that times out while waiting must not leave a "maybe sent" claim.
        await self._wait_for_slot(request, channel)
        async with self._sessions() as session:
            refund, merchant = await load_refund(session, request.refund_id)
            facts, contact, existing = await read_send_facts(
                session, refund, request, channel, self._config.sms_per_merchant_per_hour
            )
            hold = hold_for(facts)
            resend = False
            if hold == Hold.EARLIER_ATTEMPT and existing is not None and is_unsettled(existing):
                assert contact is not None
                # The earlier try's create got no answer: ask the provider before anything.
                settle_after = timedelta(seconds=self._config.settle_after_s)
                if await settle(session, self._notifier, existing, contact, settle_after):
                    await self._release(key)
                    logger.info("send_found", sid=existing.provider_sid)
                    return await _staged(session, refund, request, resume_earlier(existing))
                hold, resend = None, True  # proven absent: send it under the same key
            if hold in (Hold.CLOSED, Hold.NO_CONTACT, Hold.EARLIER_ATTEMPT):
                await self._release(key)
                held = await self._not_sent(session, hold, request, existing, logger)
                return await _staged(session, refund, request, held)
            assert contact is not None
            evidence = request.purpose == Purpose.EVIDENCE
            attempt = existing or await claim_attempt(
                session,
                {
                    "idempotency_key": key,
                    "refund_id": refund.refund_id,
                    "merchant_id": refund.merchant_id,
                    "contact_id": contact.id,
                    "channel": channel,
                    "step": request.step,
                    "attempt": request.attempt,
                },
            )
            if attempt.status == AttemptState.RETRYABLE or resend:
                append_status(attempt, f"{AttemptState.CLAIMED}#{activity.info().attempt}")
                attempt.status = AttemptState.CLAIMED
            if hold is not None:  # opted out or throttled: the claim records why
                return await self._held(session, hold, attempt, logger)
            body = None
            if channel == Channel.SMS and attempt.body:
                body = attempt.body  # a retry sends the text (and the link) it stored
            elif channel == Channel.SMS:
                message = await message_facts(session, refund, merchant, evidence=evidence)
                others = [] if evidence else await other_open_refunds(session, refund, merchant)
                # Minted in this transaction: the link exists exactly when the claim has its text.
                link = await link_for(session, self._config, refund, key, alone=evidence)
                body = message_body(replace(message, link=link), others)
            # The text is kept with the claim: if the create gets no answer, it is how this
            # send is recognised among the provider's records.
            attempt.body = body
            if body is not None:
                length = sms_length(body)
                attempt.encoding, attempt.segments = length.encoding, length.segments
            session.add(attempt)
            await session.commit()
            if resend:
                logger.warning("send_absent_sending_again")
            context = SendContext(
                channel=channel,
                phone=contact.phone,
                key=key,
                body=body,
                evidence=evidence,
                machine_detection=request.machine_detection,
                language=merchant.language,
            )
            contact_id = contact.id

        try:
            receipt = await deliver(self._notifier, self._config, context)
        except FinalProviderError as err:
            status = AttemptState.OPTED_OUT if err.code == OPTED_OUT else AttemptState.FAILED
            await self._finish_attempt(key, status, err.code, err.message, contact_id=contact_id)
            logger.warning("send_failed", code=err.code, reason=err.message)
            result = SendStatus.OPTED_OUT if status == AttemptState.OPTED_OUT else SendStatus.FAILED
            return SendResult(result, key, error_code=err.code, error_message=err.message)
        except RetryableProviderError as err:
            await self._finish_attempt(key, AttemptState.RETRYABLE, err.code, err.message)
            await self._release(key)  # nothing went out: the retry queues again
            logger.warning("send_retry", code=err.code, reason=err.message)
            raise ApplicationError(f"provider busy: {err.message}", type="ProviderRetry") from err
        except AmbiguousProviderError as err:
            # Leave the claim: the next try finds it and will not send again.
            logger.error("send_ambiguous", reason=err.message)
            raise ApplicationError(f"provider ambiguous: {err.message}") from err

        async with self._sessions() as session:
            accepted = await attempt_by_key(session, key, for_update=True)
            assert accepted is not None
            mark_accepted(accepted, receipt.sid)
            session.add(accepted)
            await audit_attempt(session, accepted, f"send.{channel}")
            staged = request.stage_on_accept  # the step's stage, with the acceptance (SMS)
            refund_row = await session.get(Refund, request.refund_id) if staged else None
            if refund_row is not None:
                await record_stage_change(session, refund_row, staged)
            await session.commit()
        logger.info("sent", sid=receipt.sid)
        return SendResult(SendStatus.ACCEPTED, key, provider_sid=receipt.sid)

    async def _not_sent(
        self,
        session: AsyncSession,
        hold: Hold,
        request: SendInput,
        existing: NotificationAttempt | None,
        log: Any,
    ) -> SendResult:
        """Nothing is claimed: the refund closed, no such contact, or the key was tried."""
        key = request.idempotency_key
        if hold == Hold.CLOSED:
            # A retry or a restart reached past the deadline: a send now would help nobody.
            pending = await attempt_by_key(session, key, for_update=True)
            if pending is not None and pending.status == AttemptState.RETRYABLE:
                append_status(pending, AttemptState.CLOSED)
                pending.status = AttemptState.CLOSED
                session.add(pending)
                await audit_attempt(session, pending, "send.closed")
                await session.commit()
            log.info("send_skipped_refund_closed")
            return SendResult(SendStatus.CLOSED, key)
        if hold == Hold.NO_CONTACT:
            log.info("send_skipped_no_contact", contact_index=request.contact_index)
            return SendResult(SendStatus.NO_CONTACT, key)
        assert existing is not None
        result = resume_earlier(existing)
        if result.status == SendStatus.UNKNOWN and existing.status == AttemptState.CLAIMED:
            append_status(existing, AttemptState.UNKNOWN)
            session.add(existing)
            await audit_attempt(session, existing, "send.unknown")
            await session.commit()
        log.warning("send_not_repeated", status=existing.status)
        return result

    async def _held(
        self, session: AsyncSession, hold: Hold, attempt: NotificationAttempt, log: Any
    ) -> SendResult:
        """Claimed, then held back: the attempt row says why, and the slot is given back."""
        key = attempt.idempotency_key
        if hold == Hold.OPTED_OUT:
            append_status(attempt, AttemptState.OPTED_OUT, error_code=OPTED_OUT)
            attempt.error_code = OPTED_OUT
            session.add(attempt)
            await audit_attempt(session, attempt, "send.opted_out")
            await session.commit()
            await self._release(key)
            return SendResult(SendStatus.OPTED_OUT, key, error_code=OPTED_OUT)
        # The merchant had its hourly share of SMS; those listed every open refund.
        append_status(attempt, AttemptState.THROTTLED)
        session.add(attempt)
        await audit_attempt(session, attempt, "send.throttled")
        await session.commit()
        await self._release(key)
        log.info("send_throttled")
        return SendResult(SendStatus.THROTTLED, key)

    async def _wait_for_slot(self, request: SendInput, channel: Channel) -> None:
        """Queue for the channel's shared rate; the send most worth sending now goes first
        (expected loss × chance of an answer now ÷ time left, recomputed while it waits)."""
        if self._pacer is None:
            return
        async with self._sessions() as session:
            refund, _ = await load_refund(session, request.refund_id)
            facts, contact, _ = await read_send_facts(
                session, refund, request, channel, self._config.sms_per_merchant_per_hour
            )
            # A send that will not reach the provider anyway must not hold a slot.
            if hold_for(facts):
                return
            worth = await send_worth(
                session,
                refund.refund_id,
                contact_id=contact.id if contact is not None else None,
                call=channel == Channel.CALL,
            )
        await self._pacer.acquire(
            key=request.idempotency_key,
            channel=channel,
            priority=0.0,
            worth=worth,
            heartbeat=activity.heartbeat,
        )

    async def _release(self, key: str) -> None:
        if self._pacer is not None:
            await self._pacer.release_unused(key)

    async def _finish_attempt(
        self,
        key: str,
        status: AttemptState,
        code: int | None,
        message: str,
        *,
        contact_id: int | None = None,
    ) -> None:
        async with self._sessions() as session:
            attempt = await attempt_by_key(session, key, for_update=True)
            assert attempt is not None
            attempt.error_code = code
            attempt.error_message = message[:500]
            retryable = status == AttemptState.RETRYABLE
            append_status(attempt, f"{status}#{code}" if retryable else status)
            attempt.status = status
            session.add(attempt)
            if status == AttemptState.OPTED_OUT and contact_id is not None:
                contact = await session.get(Contact, contact_id)
                if contact is not None:
                    contact.sms_opted_out = True
                    session.add(contact)
            if not retryable:
                await audit_attempt(session, attempt, f"send.{status}")
            await session.commit()


async def _staged(
    session: AsyncSession, refund: Refund, request: SendInput, result: SendResult
) -> SendResult:
    """An earlier try's acceptance stands: its stage change is recorded too (idempotent)."""
    if result.status == SendStatus.ACCEPTED and request.stage_on_accept is not None:
        await record_stage_change(session, refund, request.stage_on_accept)
        await session.commit()
    return result
