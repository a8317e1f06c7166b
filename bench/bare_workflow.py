"""The baseline workflows: nothing but what Temporal itself costs.

- :class:`BareWorkflow`: a start, a signal, a query (intake and answer-latency baselines).
- :class:`BareTimerWorkflow`: sleep until a due time, then one activity that records when it
  ran (``bench_bare_fired``) — the timer-precision and capacity baselines, the shape of one
  watch's step without any of its bookkeeping.

In their own module: the workflow sandbox refuses classes defined in ``__main__``.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from temporalio import workflow

__all__ = ["BARE_STEP", "BareTimerWorkflow", "BareWorkflow"]

BARE_STEP = "bare_step"  # the activity's name (bench/bare_worker.py)


@workflow.defn
class BareWorkflow:
    def __init__(self) -> None:
        self._pokes = 0
        self._done = False

    @workflow.run
    async def run(self, wait: bool) -> int:
        """Returns at once, or (``wait``) stays open until the ``finish`` signal."""
        if wait:
            await workflow.wait_condition(lambda: self._done)
        return self._pokes

    @workflow.signal
    def poke(self) -> None:
        self._pokes += 1

    @workflow.signal
    def finish(self) -> None:
        self._done = True

    @workflow.query
    def pokes(self) -> int:
        return self._pokes


@workflow.defn
class BareTimerWorkflow:
    @workflow.run
    async def run(self, due: str) -> None:
        """``due``: an ISO 8601 time with its offset."""
        delay = (datetime.fromisoformat(due) - workflow.now()).total_seconds()
        if delay > 0:
            await workflow.sleep(delay)
        await workflow.execute_activity(
            BARE_STEP, workflow.info().workflow_id, start_to_close_timeout=timedelta(seconds=30)
        )
