"""Read models for support staff: one refund's state and its merged timeline."""

from support.views import RefundView, TimelineEntry, load_refund_view, load_timeline

__all__ = ["RefundView", "TimelineEntry", "load_refund_view", "load_timeline"]
