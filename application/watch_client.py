"""Telling a refund's watch about something already recorded, without any HTTP in sight.

The order is always: record in the database first, then message the workflow. If Temporal
cannot be reached the record stands and :class:`WatchUnreachable` is raised; every caller's
request is idempotent, so a retry finds its record and tells the watch again. A watch that
already finished is not an error: the record stands.
"""

from __future__ import annotations

import structlog
from temporalio.service import RPCError, RPCStatusCode

from application.services import Services
from workflows.starter import watch_handle

__all__ = ["WatchUnreachable", "signal_watch"]

log = structlog.get_logger(__name__)


class WatchUnreachable(RuntimeError):
    """Temporal did not take the message; the caller should send the same request again."""

    def __init__(self, refund_id: str, message: str = "") -> None:
        super().__init__(
            message or "recorded, but the watch could not be told; send the same request again"
        )
        self.refund_id = refund_id


async def signal_watch(services: Services, refund_id: str, name: str, arg: object) -> None:
    """Signal ``name`` with ``arg`` to the refund's workflow; a finished watch is fine."""
    try:
        await watch_handle(services.temporal, refund_id).signal(name, arg)
    except RPCError as err:
        if err.status != RPCStatusCode.NOT_FOUND:
            raise WatchUnreachable(refund_id) from err
        log.info("workflow_already_closed", refund_id=refund_id, signal=name)
