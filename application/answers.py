"""The one way in for a merchant's answer, whatever the channel (keypad, SMS reply, in-app).

The channel parses what the merchant did into an :class:`AnswerIn` and phrases its reply from
the :class:`AnswerVerdict`; whether the answer counts is decided by the refund's watch (the
``answer`` Update, whose validator applies domain/answers.py), which also records it. When the
watch cannot be reached in time the answer is kept in ``pending_answers`` and the scheduler
delivers it later through this same function, so nothing is lost while Temporal is away.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

import structlog
from sqlmodel import col, select
from temporalio.client import WorkflowUpdateFailedError, WorkflowUpdateRPCTimeoutOrCancelledError
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError, RPCStatusCode

from application.services import Services
from db.models import PendingAnswer, utcnow
from db.upsert import insert_ignore
from domain.answers import Refusal
from domain.vocabulary import Action, Channel
from workflows.inputs import AnswerUpdate
from workflows.refund_watch import ANSWER_REFUSED, RefundWatchWorkflow
from workflows.starter import watch_handle

__all__ = [
    "AnswerIn",
    "AnswerStatus",
    "AnswerVerdict",
    "deliver_pending_answers",
    "take_answer",
]

log = structlog.get_logger(__name__)


class AnswerStatus(StrEnum):
    TAKEN = "taken"  # the watch recorded it
    REFUSED = "refused"  # it does not count (see ``refusal``); nothing was recorded
    PENDING = "pending"  # kept: the watch could not be reached; delivered later


@dataclass(frozen=True)
class AnswerIn:
    refund_id: str
    merchant_id: str
    action: Action
    channel: Channel
    source_event_id: str  # the provider's or client's event id: one answer per id
    raw: str  # what the merchant sent (digits, SMS body, the button)
    at: datetime  # when we received it


@dataclass(frozen=True)
class AnswerVerdict:
    status: AnswerStatus
    refusal: Refusal | None = None
    # When taken: the answer that stands now (a dispute wins over "I'll handle it").
    recorded: str | None = None
    # When refused as already disputed: the dispute that stands (dispute | reject).
    standing_dispute: str | None = None
    watch_finished: bool = False  # refused because the watch no longer runs

    @property
    def taken(self) -> bool:
        return self.status == AnswerStatus.TAKEN


async def take_answer(services: Services, answer: AnswerIn) -> AnswerVerdict:
    """Ask the refund's watch to take the answer; keep it for later if the watch is away."""
    verdict = await _deliver(services, answer)
    if verdict is None:
        await _keep(services, answer)
        log.warning(
            "answer_kept_for_later",
            refund_id=answer.refund_id,
            merchant_id=answer.merchant_id,
            channel=answer.channel,
        )
        return AnswerVerdict(AnswerStatus.PENDING)
    return verdict


async def _deliver(services: Services, answer: AnswerIn) -> AnswerVerdict | None:
    """The watch's verdict, or None when it could not be reached in time."""
    handle = watch_handle(services.temporal, answer.refund_id)
    request = AnswerUpdate(
        merchant_id=answer.merchant_id,
        action=answer.action,
        channel=answer.channel,
        source_event_id=answer.source_event_id,
        raw=answer.raw,
        at=answer.at,
    )
    try:
        taken = await handle.execute_update(
            RefundWatchWorkflow.answer,
            request,
            # The same answer is the same Update: Temporal returns the first one's result.
            id=f"answer:{answer.source_event_id}",
            rpc_timeout=timedelta(seconds=services.settings.answer_timeout_s),
        )
    except WorkflowUpdateFailedError as err:
        return _refused(err)
    except WorkflowUpdateRPCTimeoutOrCancelledError:
        return None
    except RPCError as err:
        if err.status == RPCStatusCode.NOT_FOUND:
            return AnswerVerdict(AnswerStatus.REFUSED, Refusal.CLOSED, watch_finished=True)
        return None
    except RuntimeError as err:
        # A client that has not reached the server yet (connected lazily) says so this way.
        if not str(err).startswith("Failed client connect"):
            raise
        return None
    return AnswerVerdict(AnswerStatus.TAKEN, recorded=taken.recorded)


def _refused(err: WorkflowUpdateFailedError) -> AnswerVerdict:
    cause = err.cause
    if not isinstance(cause, ApplicationError) or cause.type != ANSWER_REFUSED:
        raise err  # a bug in the watch, not a refusal: let it surface
    details = list(cause.details)
    refusal = Refusal(str(details[0]))
    dispute = str(details[1]) if len(details) > 1 and details[1] else None
    return AnswerVerdict(AnswerStatus.REFUSED, refusal, standing_dispute=dispute)


async def _keep(services: Services, answer: AnswerIn) -> None:
    async with services.sessions() as session:
        await insert_ignore(
            session,
            PendingAnswer,
            {
                "source_event_id": answer.source_event_id,
                "refund_id": answer.refund_id,
                "merchant_id": answer.merchant_id,
                "action": answer.action,
                "channel": answer.channel,
                "raw": answer.raw[:200],
                "received_at": answer.at,
                "attempts": 0,
            },
            ["source_event_id"],
        )
        await session.commit()


async def deliver_pending_answers(services: Services, *, limit: int = 200) -> int:
    """Deliver kept answers, oldest first (the scheduler's reconciler runs this). Returns how
    many reached their watch; the others stay for the next pass."""
    async with services.sessions() as session:
        pending = (
            await session.exec(
                select(PendingAnswer)
                .where(col(PendingAnswer.delivered_at).is_(None))
                .order_by(col(PendingAnswer.received_at))
                .limit(limit)
            )
        ).all()
    delivered = 0
    for row in pending:
        answer = AnswerIn(
            refund_id=row.refund_id,
            merchant_id=row.merchant_id,
            action=Action(row.action),
            channel=Channel(row.channel),
            source_event_id=row.source_event_id,
            raw=row.raw,
            at=row.received_at,
        )
        verdict = await _deliver(services, answer)
        async with services.sessions() as session:
            stored = await session.get(PendingAnswer, row.source_event_id)
            assert stored is not None
            stored.attempts += 1
            if verdict is not None:
                stored.delivered_at = utcnow()
                stored.verdict = verdict.refusal or verdict.status
                delivered += 1
            session.add(stored)
            await session.commit()
        log.info(
            "pending_answer_delivered" if verdict else "pending_answer_still_waiting",
            refund_id=row.refund_id,
            merchant_id=row.merchant_id,
            verdict=(verdict.refusal or verdict.status) if verdict else None,
        )
    return delivered
