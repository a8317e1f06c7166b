"""The baseline workflow: nothing but what Temporal itself costs (a start, a signal, a query).

In its own module: the workflow sandbox refuses classes defined in ``__main__``.
"""

from __future__ import annotations

from temporalio import workflow

__all__ = ["BareWorkflow"]


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
