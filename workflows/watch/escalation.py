"""The ladder on the clock: planning and replanning it, bringing a step forward, and the
lighter watch that follows the merchant's answer."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

from temporalio import workflow
from temporalio.exceptions import ActivityError

with workflow.unsafe.imports_passed_through():
    from activities.call_times import CallTimeActivities
    from activities.types import CallOddsInput
    from domain.call_times import CallMove, place_calls
    from domain.ladder import LadderPlan, PlannedStep, plan_ladder
    from domain.policy import StepSpec
    from domain.vocabulary import DISPUTING, Action, Channel, Stage
    from platform_webhooks.types import MERCHANT_HANDLING
    from workflows.watch.records import (
        PATCH_CALL_TIMES,
        PATCH_DISPUTES,
        QUICK,
        SEND_RETRY,
        Records,
    )
    from workflows.watch.state import WatchState

__all__ = ["Escalation"]

ACKNOWLEDGED_REMINDER = "acknowledged_reminder"


class Escalation:
    def __init__(self, state: WatchState, records: Records) -> None:
        self._s = state
        self._records = records

    def plan_from_now(self, policy_steps: list[StepSpec] | None = None) -> LadderPlan:
        """The policy's steps not run yet (or ``policy_steps``), placed before the deadline."""
        state = self._s
        policy = state.params.policy
        if policy_steps is not None:
            policy = replace(policy, steps=list(policy_steps))
        deadline = state.deadline
        if policy_steps is not None and state.evidence_due is not None:
            deadline = min(state.evidence_due, state.deadline)
        return plan_ladder(
            policy,
            risk_level=state.params.risk_level,
            now=workflow.now(),
            deadline=deadline,
            done=frozenset(state.done),
            quiet=[(w.start, w.end) for w in state.quiet],
        )

    async def plan(self, kind: str) -> None:
        """Place the ladder (``planned`` at start, ``replanned`` after a deadline move)."""
        state = self._s
        plan = self.plan_from_now()
        state.queue = list(plan.steps)
        moves: list[CallMove] = []
        if state.acknowledged:
            state.queue = self.after_answer_queue()
        else:
            state.queue, moves = await self._learned_call_times(state.queue)
        await self._records.audit(
            f"ladder.{kind}",
            {
                "deadline": state.deadline.isoformat(),
                "compression": round(plan.compression, 4),
                "steps": [{"step": s.spec.name, "at": s.at.isoformat()} for s in state.queue],
            },
        )
        if state.acknowledged:
            return
        for skip in plan.skipped:
            await self._records.audit(
                "step.skipped", {"step": skip.spec.name, "reason": skip.reason}
            )
        for step in plan.steps:
            if step.note:
                detail: dict[str, object] = {
                    "step": step.spec.name,
                    "at": step.at.isoformat(),
                    "reason": step.note,
                }
                await self._records.audit("step.quiet_hours", detail)
        for move in moves:
            await self._records.audit(
                "step.call_time",
                {
                    "step": move.step,
                    "was": move.was.isoformat(),
                    "at": move.at.isoformat(),
                    "odds_was": round(move.odds_was, 4),
                    "odds": round(move.odds_now, 4),
                    "reason": move.reason,
                },
            )

    async def _learned_call_times(
        self, steps: list[PlannedStep]
    ) -> tuple[list[PlannedStep], list[CallMove]]:
        """Call steps moved to the hours the contact answers (policy ``call_times``)."""
        state = self._s
        policy = state.params.policy
        settings = policy.call_times
        if not settings.enabled or not any(s.spec.channel == Channel.CALL for s in steps):
            return steps, []
        if not workflow.patched(PATCH_CALL_TIMES):
            return steps, []
        now = workflow.now()
        try:
            slots = await workflow.execute_local_activity_method(
                CallTimeActivities.call_odds,
                CallOddsInput(
                    state.params.refund_id,
                    now,
                    state.deadline,
                    settings.prior,
                    settings.prior_weight,
                    settings.history_days,
                ),
                start_to_close_timeout=QUICK,
                schedule_to_close_timeout=timedelta(minutes=1),
                retry_policy=SEND_RETRY,
            )
        except ActivityError:
            return steps, []  # the ladder as planned: learning never holds a refund up
        return place_calls(
            steps,
            slots,
            now=now,
            deadline=state.deadline,
            quiet=[(w.start, w.end) for w in state.quiet],
            min_step_gap=timedelta(seconds=policy.min_step_gap_s),
            settings=settings,
        )

    def after_answer_queue(self) -> list[PlannedStep]:
        state = self._s
        if state.dispute.handled and state.evidence_due is not None:
            return [] if state.evidence.handled else self.evidence_queue()
        return self.reminder_queue()

    def evidence_queue(self) -> list[PlannedStep]:
        """The dispute's lighter ladder, counted back from the evidence deadline."""
        assert self._s.evidence_due is not None
        return list(self.plan_from_now(self._s.params.policy.dispute.steps).steps)

    def reminder_queue(self) -> list[PlannedStep]:
        state = self._s
        at = state.deadline - timedelta(seconds=state.params.policy.acknowledged_reminder_s)
        if at <= workflow.now() or ACKNOWLEDGED_REMINDER in state.done:
            return []
        return [PlannedStep(StepSpec(ACKNOWLEDGED_REMINDER, Channel.IN_APP), at)]

    async def enter_acknowledged_watch(self) -> None:
        state = self._s
        answer = state.answer.value
        assert answer is not None
        state.answer.handled = True
        cancelled = [step.spec.name for step in state.queue]
        state.queue = self.reminder_queue()
        disputing = answer.action in DISPUTING and workflow.patched(PATCH_DISPUTES)
        if not disputing:
            await self._records.set_stage(Stage.ACKNOWLEDGED)
        await self._records.audit(
            "escalation.stopped",
            {
                "answer": answer.action,
                "channel": answer.channel,
                "cancelled_steps": cancelled,
                "lighter_watch": [] if disputing else [s.spec.name for s in state.queue],
            },
        )
        if disputing:
            state.queue = []
        elif answer.action == Action.HANDLE_NOW and workflow.patched(PATCH_DISPUTES):
            await self._records.tell(MERCHANT_HANDLING, "1")

    async def advance_next_step(self) -> None:
        """Run the next step now (an SMS that failed before the calls): recorded with why."""
        state = self._s
        reason = state.advance_reason
        state.advance_reason = None
        if not state.queue or state.acknowledged:
            return
        step = state.queue[0]
        now = workflow.now()
        if step.at > now:
            state.queue[0] = replace(step, at=now)
            await self._records.audit(
                "step.moved_earlier",
                {"step": step.spec.name, "was": step.at.isoformat(), "reason": reason},
            )
