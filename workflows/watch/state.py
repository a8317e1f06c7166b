"""Everything a refund's watch knows, in one place.

Signals and updates change this state and nothing else; the run loop reads it and decides.
News that arrives once and is acted on once (an answer, a dispute, evidence) is a
:class:`Once`: the value, and whether the run loop has acted on it yet.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Generic, TypeVar

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from domain.answers import WatchFacts
    from domain.ladder import PlannedStep
    from domain.vocabulary import Action, Outcome, Stage
    from workflows.inputs import (
        AnswerTaken,
        DeliveryReport,
        EvidenceSubmitted,
        MerchantAnswer,
        QuietWindow,
        RefundWatchInput,
        ResolutionEvent,
    )

__all__ = ["Once", "SmsCheck", "WatchState"]

T = TypeVar("T")


@dataclass
class Once(Generic[T]):
    value: T | None = None
    handled: bool = False

    @property
    def waiting(self) -> bool:
        """Arrived, not acted on yet."""
        return self.value is not None and not self.handled


@dataclass(frozen=True)
class SmsCheck:
    """An SMS whose delivery is asked of the provider at ``at`` if no report came by then."""

    idempotency_key: str
    at: datetime


@dataclass
class WatchState:
    params: RefundWatchInput
    deadline: datetime
    quiet: list[QuietWindow]
    stage: Stage = Stage.WATCHING
    outcome: Outcome | None = None
    resolution: ResolutionEvent | None = None
    # The ladder: steps still to run, and those already run (never run twice).
    queue: list[PlannedStep] = field(default_factory=list)
    done: list[str] = field(default_factory=list)
    replan: bool = False  # the deadline moved: place the remaining steps again
    advance_reason: str | None = None  # run the next step now (an SMS failed), and why
    last_channel: str | None = None  # the last channel that reached the provider
    sms_check: SmsCheck | None = None
    # The merchant's first answer (handled = the lighter watch has begun) and its dispute.
    answer: Once[MerchantAnswer] = field(default_factory=Once)
    dispute: Once[MerchantAnswer] = field(default_factory=Once)
    evidence: Once[EvidenceSubmitted] = field(default_factory=Once)
    more_evidence: list[EvidenceSubmitted] = field(default_factory=list)  # after the first
    evidence_due: datetime | None = None
    # Provider reports by idempotency key; ids of messages already applied (deduplication).
    statuses: dict[str, DeliveryReport] = field(default_factory=dict)
    seen: set[str] = field(default_factory=set)
    answers_taken: dict[str, AnswerTaken] = field(default_factory=dict)
    audit_seq: int = 0

    @classmethod
    def start(cls, params: RefundWatchInput) -> WatchState:
        return cls(params=params, deadline=params.deadline, quiet=list(params.quiet_windows))

    @property
    def acknowledged(self) -> bool:
        """The merchant answered and the lighter watch has begun."""
        return self.answer.handled

    @property
    def awaiting_evidence(self) -> bool:
        return self.evidence_due is not None and not self.evidence.handled

    def facts(self, *, closed_by_resolution: bool = True) -> WatchFacts:
        """What domain.answers judges by. ``closed_by_resolution=False`` is how the signal
        handler of recorded histories judged "closed" (the outcome only)."""
        closed = self.outcome is not None or (closed_by_resolution and self.resolution is not None)
        dispute = self.dispute.value
        return WatchFacts(
            merchant_id=self.params.merchant_id,
            stage=self.stage,
            closed=closed,
            abnormal=self.params.abnormal,
            dispute=Action(dispute.action) if dispute else None,
            evidence_due=self.evidence_due,
            evidence_taken=self.evidence.handled,
            evidence_missed=self.outcome == Outcome.EVIDENCE_MISSED,
        )
