"""May this SMS or call go out now, and if not, why: the rule, without the I/O.

The send activity asks twice: before it queues for the shared rate limit (a send that will not
go out must not hold a slot) and again inside its transaction, where the answer is final. Both
ask :func:`hold_for` with the facts they read, so the two can never disagree.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from domain.vocabulary import AttemptState, Channel

__all__ = ["Hold", "SendFacts", "hold_for"]


class Hold(StrEnum):
    """Why a send does not go out now."""

    CLOSED = "closed"  # the refund closed, or its deadline passed, while the send waited
    NO_CONTACT = "no_contact"  # the merchant has no active contact at that priority
    EARLIER_ATTEMPT = "earlier_attempt"  # this key was tried before: its result stands
    OPTED_OUT = "opted_out"  # SMS to a number that replied STOP (calls still go out)
    THROTTLED = "throttled"  # the merchant's hourly SMS cap is reached


@dataclass(frozen=True)
class SendFacts:
    channel: Channel
    too_late: bool  # the refund is closed or its deadline has passed
    has_contact: bool
    earlier: str | None  # status of an earlier attempt under the same key; None = first try
    opted_out: bool = False  # the contact replied STOP to our SMS
    sms_cap_reached: bool = False


def hold_for(facts: SendFacts) -> Hold | None:
    """None when the send may go out now; otherwise the first reason it may not."""
    if facts.too_late:
        return Hold.CLOSED
    if not facts.has_contact:
        return Hold.NO_CONTACT
    if facts.earlier is not None and facts.earlier != AttemptState.RETRYABLE:
        return Hold.EARLIER_ATTEMPT
    if facts.channel == Channel.SMS and facts.opted_out:
        return Hold.OPTED_OUT
    if facts.channel == Channel.SMS and facts.sms_cap_reached:
        return Hold.THROTTLED
    return None
