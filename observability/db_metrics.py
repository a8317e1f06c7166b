"""Figures read from the database at scrape time: what refundwatch has done, for every replica.

The queries are a handful of ``GROUP BY`` counts over indexed or small tables; the result is
cached for ``max_age_s`` so a burst of scrapes (several Prometheus servers, a dashboard refresh)
costs one round of queries. The values are cluster-wide totals: every API replica reports the
same numbers, so aggregate replicas with ``max``, not ``sum``.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

import structlog
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy import func
from sqlmodel import col, or_, select
from sqlmodel.ext.asyncio.session import AsyncSession

from db.engine import SessionFactory
from db.models import LossEntry, LossReport, MerchantResponse, NotificationAttempt, Refund
from domain.vocabulary import Channel, Outcome

__all__ = ["NEAR_DEADLINE", "DatabaseMetrics", "DatabaseSnapshot", "read_snapshot"]

NEAR_DEADLINE = timedelta(hours=1)  # refundwatch_watches_near_deadline_uncontacted's window

log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class DatabaseSnapshot:
    refunds_by_state: dict[tuple[bool, str], int] = field(default_factory=dict)
    unstarted: int = 0
    overdue: int = 0
    near_deadline_uncontacted: int = 0
    sends: dict[tuple[str, str], int] = field(default_factory=dict)
    sends_accepted: dict[str, int] = field(default_factory=dict)
    answers: dict[tuple[str, str], int] = field(default_factory=dict)
    saved_minor: dict[str, int] = field(default_factory=dict)
    lost_minor: dict[str, int] = field(default_factory=dict)
    last_report_day: str | None = None


async def read_snapshot(
    session: AsyncSession, *, overdue_grace: timedelta, now: datetime | None = None
) -> DatabaseSnapshot:
    now = now or datetime.now(UTC)
    tracked_open = (col(Refund.tracked).is_(True), Refund.state == "open")
    by_state = await session.exec(
        select(Refund.tracked, Refund.state, func.count()).group_by(
            col(Refund.tracked), col(Refund.state)
        )
    )
    unstarted = await session.exec(
        select(func.count())
        .select_from(Refund)
        .where(*tracked_open, col(Refund.workflow_started_at).is_(None))
    )
    overdue = await session.exec(
        select(func.count())
        .select_from(Refund)
        .where(*tracked_open, col(Refund.deadline_at) < now - overdue_grace)
    )
    # Open, due within NEAR_DEADLINE, and neither an SMS nor a call reached the provider nor
    # did the merchant answer: the watch is about to lose money without having reached anyone.
    reached = select(NotificationAttempt.refund_id).where(
        col(NotificationAttempt.provider_sid).is_not(None),
        col(NotificationAttempt.channel).in_([Channel.SMS, Channel.CALL]),
    )
    answered = select(MerchantResponse.refund_id)
    uncontacted = await session.exec(
        select(func.count())
        .select_from(Refund)
        .where(
            *tracked_open,
            col(Refund.deadline_at) >= now,
            col(Refund.deadline_at) < now + NEAR_DEADLINE,
            col(Refund.refund_id).not_in(reached),
            col(Refund.refund_id).not_in(answered),
        )
    )
    sends = await session.exec(
        select(NotificationAttempt.channel, NotificationAttempt.status, func.count()).group_by(
            col(NotificationAttempt.channel), col(NotificationAttempt.status)
        )
    )
    # Reached the merchant or the provider: a provider sid, or an in-app notice (no provider).
    accepted = await session.exec(
        select(NotificationAttempt.channel, func.count())
        .where(
            or_(
                col(NotificationAttempt.provider_sid).is_not(None),
                NotificationAttempt.channel == "in_app",
            )
        )
        .group_by(col(NotificationAttempt.channel))
    )
    answers = await session.exec(
        select(MerchantResponse.channel, MerchantResponse.action, func.count()).group_by(
            col(MerchantResponse.channel), col(MerchantResponse.action)
        )
    )
    saved = await session.exec(
        select(Refund.currency, func.sum(Refund.amount_minor))
        .where(col(Refund.tracked).is_(True), Refund.state == "resolved")
        .group_by(col(Refund.currency))
    )
    lost = await session.exec(
        select(LossEntry.currency, func.sum(LossEntry.amount_minor)).group_by(
            col(LossEntry.currency)
        )
    )
    last_report = await session.exec(select(func.max(LossReport.day)))
    return DatabaseSnapshot(
        refunds_by_state={(bool(t), s): int(n) for t, s, n in by_state.all()},
        unstarted=int(unstarted.one()),
        overdue=int(overdue.one()),
        near_deadline_uncontacted=int(uncontacted.one()),
        sends={(c, s): int(n) for c, s, n in sends.all()},
        sends_accepted={c: int(n) for c, n in accepted.all()},
        answers={(c, a): int(n) for c, a, n in answers.all()},
        saved_minor={c: int(n or 0) for c, n in saved.all()},
        lost_minor={c: int(n or 0) for c, n in lost.all()},
        last_report_day=last_report.one(),
    )


class DatabaseMetrics(Collector):
    """A prometheus_client collector over a cached :class:`DatabaseSnapshot`.

    ``collect`` is synchronous (prometheus_client calls it), so the async scrape handler calls
    :meth:`refresh` first; ``collect`` only reads the cached snapshot.
    """

    def __init__(self, *, overdue_grace: timedelta, max_age_s: float = 5.0) -> None:
        self._grace = overdue_grace
        self._max_age_s = max_age_s
        self._lock = asyncio.Lock()
        self._snapshot: DatabaseSnapshot | None = None
        self._read_at: float | None = None
        self._query_seconds = 0.0

    async def refresh(self, sessions: SessionFactory) -> None:
        async with self._lock:
            now = time.monotonic()
            if self._read_at is not None and now - self._read_at < self._max_age_s:
                return
            try:
                async with sessions() as session:
                    self._snapshot = await read_snapshot(session, overdue_grace=self._grace)
            except Exception as exc:  # a scrape reports the database down; it does not fail
                log.warning("metrics_database_unavailable", error=type(exc).__name__)
                self._snapshot = None  # stale figures would hide the outage
            self._read_at = time.monotonic()
            self._query_seconds = self._read_at - now

    def collect(self) -> Iterator[Metric]:
        snapshot = self._snapshot
        yield GaugeMetricFamily(
            "refundwatch_database_up",
            "1 if the last metrics query reached the database, else 0.",
            value=0 if snapshot is None else 1,
        )
        yield GaugeMetricFamily(
            "refundwatch_metrics_query_duration_seconds",
            "How long the last round of metrics queries took.",
            value=self._query_seconds,
        )
        if snapshot is not None:
            yield from _families(snapshot)


def _families(s: DatabaseSnapshot) -> Iterator[Metric]:
    received = CounterMetricFamily(
        "refundwatch_refunds_received", "Refunds taken in from the platform (tracked or not)."
    )
    received.add_metric([], sum(s.refunds_by_state.values()))
    yield received

    tracked = CounterMetricFamily(
        "refundwatch_refunds_tracked", "Refunds the risk gate chose to watch."
    )
    tracked.add_metric([], sum(n for (t, _), n in s.refunds_by_state.items() if t))
    yield tracked

    states = GaugeMetricFamily("refundwatch_refunds", "Refunds by current state.", labels=["state"])
    by_state: dict[str, int] = {}
    for (_, state), n in s.refunds_by_state.items():
        by_state[state] = by_state.get(state, 0) + n
    for state, n in sorted(by_state.items()):
        states.add_metric([state], n)
    yield states

    outcomes = CounterMetricFamily(
        "refundwatch_outcomes", "Watched refunds closed, by outcome.", labels=["outcome"]
    )
    for outcome in Outcome:
        outcomes.add_metric([outcome], s.refunds_by_state.get((True, outcome), 0))
    yield outcomes

    yield GaugeMetricFamily(
        "refundwatch_refunds_unstarted",
        "Tracked open refunds whose watch was never started (the reconciler starts them).",
        value=s.unstarted,
    )
    yield GaugeMetricFamily(
        "refundwatch_watches_near_deadline_uncontacted",
        "Tracked open refunds due within the next hour that no SMS or call has reached (no "
        "provider sid) and whose merchant has not answered: alert before the money is lost.",
        value=s.near_deadline_uncontacted,
    )
    yield GaugeMetricFamily(
        "refundwatch_refunds_overdue",
        "Tracked refunds still open longer than REFUNDWATCH_OVERDUE_GRACE after their deadline.",
        value=s.overdue,
    )

    sends = GaugeMetricFamily(
        "refundwatch_sends",
        "Notification attempts by channel and current status (accepted, delivered, failed, …).",
        labels=["channel", "status"],
    )
    for (channel, status), n in sorted(s.sends.items()):
        sends.add_metric([channel, status], n)
    yield sends

    accepted = CounterMetricFamily(
        "refundwatch_sends_accepted",
        "Sends that reached the provider (SMS, call: the provider returned a sid) or the app.",
        labels=["channel"],
    )
    for channel, n in sorted(s.sends_accepted.items()):
        accepted.add_metric([channel], n)
    yield accepted

    answers = CounterMetricFamily(
        "refundwatch_merchant_answers",
        "Merchant answers recorded, by channel and action.",
        labels=["channel", "action"],
    )
    for (channel, action), n in sorted(s.answers.items()):
        answers.add_metric([channel, action], n)
    yield answers

    for name, text, values in (
        (
            "refundwatch_money_saved_minor",
            "Amount of watched refunds resolved before their deadline, in minor units.",
            s.saved_minor,
        ),
        (
            "refundwatch_money_lost_minor",
            "Amount written to the loss ledger (timed out), in minor units.",
            s.lost_minor,
        ),
    ):
        money = CounterMetricFamily(name, text, labels=["currency"])
        for currency, minor in sorted(values.items()):
            money.add_metric([currency], minor)
        yield money

    if s.last_report_day is not None:
        day = date.fromisoformat(s.last_report_day)
        yield GaugeMetricFamily(
            "refundwatch_loss_report_last_day_timestamp_seconds",
            "Start (UTC) of the latest day with a stored daily loss report.",
            value=datetime(day.year, day.month, day.day, tzinfo=UTC).timestamp(),
        )
