"""Phrasing a refused answer for the HTTP API (the SMS and voice replies are in messages/)."""

from __future__ import annotations

from fastapi import status

from application.answers import AnswerVerdict
from domain.answers import Refusal

__all__ = ["http_refusal"]


def http_refusal(refund_id: str, verdict: AnswerVerdict) -> tuple[int, str]:
    """(status code, reason) for an answer the watch refused."""
    refusal = verdict.refusal
    if refusal == Refusal.NOT_YOURS:
        return status.HTTP_403_FORBIDDEN, "this refund belongs to another merchant"
    if refusal == Refusal.CLOSED and verdict.watch_finished:
        return (
            status.HTTP_409_CONFLICT,
            f"refund {refund_id} is not being watched (closed or unknown)",
        )
    if refusal == Refusal.CLOSED:
        return status.HTTP_409_CONFLICT, "this refund is already closed"
    if refusal == Refusal.NOT_ABNORMAL:
        return status.HTTP_409_CONFLICT, (
            "one-click rejection is only for refunds the risk gate marked abnormal; "
            "dispute it and submit evidence instead"
        )
    if refusal == Refusal.ALREADY_DISPUTED:
        return (
            status.HTTP_409_CONFLICT,
            f"this refund is already under a {verdict.standing_dispute}",
        )
    return status.HTTP_409_CONFLICT, f"this answer does not count ({refusal})"
