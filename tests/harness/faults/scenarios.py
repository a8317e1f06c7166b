"""What the fault batches are made of: how each merchant's contacts behave on the Twilio sandbox,
the mixes of merchants a batch draws from, and its size and seed.

Sizes: ``REFUNDWATCH_FAULT_REFUNDS`` refunds per batch (default 40), seeded by
``REFUNDWATCH_FAULT_SEED`` (default 6; a failure message names the seed to rerun with).
"""

from __future__ import annotations

import os
from typing import Any

__all__ = [
    "ANSWERS_1",
    "BASE_SIZE",
    "FAULTY",
    "INVALID_FOR_CALLS",
    "INVALID_FOR_SMS",
    "KILLS",
    "LAST_WAVE",
    "MIXED",
    "NEVER",
    "SEED",
    "SIZE",
    "UNDELIVERED",
    "Kinds",
    "stretched",
]

SIZE = int(os.environ.get("REFUNDWATCH_FAULT_REFUNDS", "40"))
BASE_SIZE = 40  # the size the batches' time spans were set for


def stretched(seconds: float) -> float:
    """A time span set for ``BASE_SIZE`` refunds, stretched in proportion to ``SIZE``: a larger
    batch keeps the same escalations a second, so that it tests faults at scale rather than
    what one shared 2-core machine can take in a burst (the benchmarks measure that). At 150
    refunds squeezed into the same 12 s of deadlines, 35 of 79 merchants scripted to answer got
    no call before their deadline and only 1 was heard in time (issue 15)."""
    return seconds * max(1.0, SIZE / BASE_SIZE)


SEED = int(os.environ.get("REFUNDWATCH_FAULT_SEED", "6"))
# How many times the worker is killed with kill -9 in the worker-crash test (the crash run of
# docs/benchmarks.md: REFUNDWATCH_FAULT_REFUNDS=1000 REFUNDWATCH_FAULT_KILLS=5).
KILLS = int(os.environ.get("REFUNDWATCH_FAULT_KILLS", "3"))

ANSWERS_1: dict[str, Any] = {"calls": [{"answer": "human", "digits": ["1"]}]}
NEVER: dict[str, Any] = {"calls": [{"answer": "no-answer"}]}
UNDELIVERED: dict[str, Any] = {"sms": [{"status": "undelivered", "error_code": 30003}]}
INVALID_FOR_SMS: dict[str, Any] = {"create_error": {"code": 21211, "channel": "sms"}}
INVALID_FOR_CALLS: dict[str, Any] = {"create_error": {"code": 21211, "channel": "call"}}

# name → sandbox behaviour of each contact, in priority order
Kinds = dict[str, list[dict[str, Any]]]

MIXED: Kinds = {
    "answers_1": [ANSWERS_1],
    "never_answers": [NEVER],
    "sms_undelivered": [{**UNDELIVERED, **NEVER}],
    "sms_undelivered_answers_1": [{**UNDELIVERED, **ANSWERS_1}],
}
# Refunds taken once the crash tests' faults are over: each must be heard and saved.
LAST_WAVE: Kinds = {"last_wave_answers_1": [ANSWERS_1]}
# The provider-fault test's mix; its checks tell the kinds apart by these names' prefixes.
FAULTY: Kinds = {
    "answers_1": [ANSWERS_1],
    "never_answers": [NEVER],
    "sms_invalid_number_answers_1": [{**INVALID_FOR_SMS, **ANSWERS_1}],
    "call_invalid_number_backup_answers_1": [{**INVALID_FOR_CALLS, **NEVER}, ANSWERS_1],
}
