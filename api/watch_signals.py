"""Telling a refund's watch about something the API has already recorded.

The order is always: record in the database first, then signal the workflow. If Temporal cannot
be reached the record stands and the caller gets 503 "send the same request again"; every such
request is idempotent, so the retry finds its record and signals again.
"""

from __future__ import annotations

from fastapi import HTTPException, status
from temporalio.service import RPCError, RPCStatusCode

from api.services import Services
from db.models import Refund
from workflows.starter import watch_handle

__all__ = ["signal_watch"]


async def signal_watch(services: Services, refund: Refund, name: str, arg: object) -> None:
    """Signal ``name`` with ``arg`` to the refund's workflow (nothing for untracked refunds)."""
    if not refund.tracked:
        return
    try:
        await watch_handle(services.temporal, refund.refund_id).signal(name, arg)
    except RPCError as err:
        if err.status != RPCStatusCode.NOT_FOUND:
            raise HTTPException(
                status.HTTP_503_SERVICE_UNAVAILABLE,
                "recorded, but the watch could not be told; send the same request again",
            ) from None
        # The watch already finished (e.g. timed out a moment ago): the record stands.
