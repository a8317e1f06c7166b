"""Which assessments count as "abnormal": the merchant may then reject in one click.

Size alone is not abnormal (a large refund can be perfectly ordinary); any scored reason about
the buyer, the device, the parcel or the order's history is.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

__all__ = ["is_abnormal"]

_SIZE_PREFIX = "amount."


def is_abnormal(reasons: Iterable[Mapping[str, Any]]) -> bool:
    """``reasons`` as stored with an assessment: dicts with ``code`` and ``points``."""
    return any(
        int(reason.get("points", 0)) > 0
        and not str(reason.get("code", "")).startswith(_SIZE_PREFIX)
        for reason in reasons
    )
