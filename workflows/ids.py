"""Workflow ids: one watch per refund, ever, so a repeated intake finds the same workflow."""

from __future__ import annotations

__all__ = ["workflow_id_for"]


def workflow_id_for(refund_id: str) -> str:
    return f"refund-{refund_id}"
