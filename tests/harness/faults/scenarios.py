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
    "FAULTY",
    "INVALID_FOR_CALLS",
    "INVALID_FOR_SMS",
    "LAST_WAVE",
    "MIXED",
    "NEVER",
    "SEED",
    "SIZE",
    "UNDELIVERED",
    "Kinds",
]

SIZE = int(os.environ.get("REFUNDWATCH_FAULT_REFUNDS", "40"))
SEED = int(os.environ.get("REFUNDWATCH_FAULT_SEED", "6"))

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
