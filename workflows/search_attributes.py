"""Custom search attributes: one definition used by the workflow, the API and the dev server.

No personal data here, only ids, amounts and states support staff filter on.
"""

from __future__ import annotations

from typing import Any

from temporalio.common import SearchAttributeKey

__all__ = [
    "ALL",
    "AMOUNT_MINOR",
    "DEADLINE",
    "MERCHANT_ID",
    "OUTCOME",
    "RISK_SCORE",
    "STAGE",
    "dev_server_flags",
]

MERCHANT_ID = SearchAttributeKey.for_keyword("RefundMerchantId")
AMOUNT_MINOR = SearchAttributeKey.for_int("RefundAmountMinor")
RISK_SCORE = SearchAttributeKey.for_int("RefundRiskScore")
STAGE = SearchAttributeKey.for_keyword("RefundStage")
DEADLINE = SearchAttributeKey.for_datetime("RefundDeadline")
OUTCOME = SearchAttributeKey.for_keyword("RefundOutcome")

ALL: tuple[SearchAttributeKey[Any], ...] = (
    MERCHANT_ID,
    AMOUNT_MINOR,
    RISK_SCORE,
    STAGE,
    DEADLINE,
    OUTCOME,
)

_CLI_TYPES = {"KEYWORD": "Keyword", "INT": "Int", "DATETIME": "Datetime"}


def dev_server_flags() -> list[str]:
    """`--search-attribute NAME=Type` flags for `temporal server start-dev`."""
    flags: list[str] = []
    for key in ALL:
        flags += ["--search-attribute", f"{key.name}={_CLI_TYPES[key.indexed_value_type.name]}"]
    return flags
