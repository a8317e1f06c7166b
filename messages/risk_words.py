"""The risk gate's reasons in plain words, for the merchant (the stored reason texts are
written for support: tiers, caps, points). Keyed by reason code; translated like every text."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from messages.i18n import N_, gettext_for

__all__ = ["plain_reasons"]

_PLAIN = {
    "buyer.refund_count": N_("This buyer has asked for many refunds recently."),
    "buyer.account_age": N_("The buyer's account is very new."),
    "buyer.shared_device": N_("Many accounts were used on the buyer's device."),
    "logistics.no_tracking": N_("The return has no tracking number."),
    "logistics.empty_package": N_("The returned package arrived empty."),
    "logistics.swapped_item": N_("The returned item is not the one you sold."),
    "logistics.weight_mismatch": N_("The return's weight does not match the item sold."),
    "logistics.return_not_received": N_("The return has not been received."),
    "refund_only_after_delivery": N_("A refund without return was asked after delivery."),
    "order.repeat_requests": N_("A refund was requested several times for this order."),
    "amount.absolute": N_("The amount is large."),
    "amount.relative": N_("The amount is much larger than your usual refunds."),
    "amount.always_track": N_("Refunds of this size are always watched."),
}
_HISTORY = {
    "prior_disputes_upheld": N_("Earlier refunds from this buyer were rejected after disputes."),
    "prior_refunds_rejected": N_("Earlier refunds from this buyer were rejected."),
    "prior_evidence_missed": N_("Earlier refunds from this buyer were disputed."),
    "prior_timeouts": N_("Earlier refunds from this buyer were approved without an answer."),
    "prior_handled": N_("Earlier refunds from this buyer needed a merchant's attention."),
}


def plain_reasons(reasons: Iterable[Mapping[str, Any]], language: str) -> list[str]:
    """The reasons that scored, each once, in the merchant's language."""
    _ = gettext_for(language)
    said: list[str] = []
    for reason in reasons:
        if not int(reason.get("points") or 0):
            continue
        code = str(reason.get("code", ""))
        kind, _dot, tail = code.partition(".")
        template = _PLAIN.get(code) or (_HISTORY.get(tail) if kind in ("buyer", "device") else None)
        text = _(template) if template else str(reason.get("text", ""))
        if text and text not in said:
            said.append(text)
    return said
