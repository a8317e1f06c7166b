"""The platform's request bodies, `POST /v1/merchants` and `POST /v1/refunds`, built in one place
for the tests, the benchmarks and the demo: a field the API comes to require is added here once.

JSON-ready dicts (amounts and times as strings), fresh on every call. The defaults
are a merchant with one contact per phone in Asia/Shanghai speaking English, and a 3,000.00 CNY
refund requested an hour ago with an empty package: large and abnormal, so the risk gate
tracks it. Tools import this module; production code never does (tests/test_architecture.py).
"""

from __future__ import annotations

import copy
import uuid
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

__all__ = ["DEFAULT_SIGNALS", "merchant_body", "refund_body"]

# An empty package on delivery: abnormal, so a 3,000.00 CNY refund with it is tracked.
DEFAULT_SIGNALS: Mapping[str, Any] = {"logistics": ["empty_package"]}


def merchant_body(
    merchant_id: str,
    phones: Sequence[str],
    *,
    name: str = "Test Merchant",
    contact_names: Sequence[str] | None = None,
    timezone: str = "Asia/Shanghai",
    language: str = "en",
    quiet_hours: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """A merchant whose contacts are ``phones`` in priority order, named ``contact_names``
    (default "Contact 0", "Contact 1", …); ``quiet_hours`` ({"start": "22:00", "end": "08:00"})
    is sent only when given, so the policy's default applies otherwise."""
    names = (
        contact_names if contact_names is not None else [f"Contact {i}" for i in range(len(phones))]
    )
    body: dict[str, Any] = {
        "merchant_id": merchant_id,
        "name": name,
        "timezone": timezone,
        "language": language,
        "contacts": [
            {"phone": phone, "name": person, "priority": i + 1}
            for i, (phone, person) in enumerate(zip(phones, names, strict=True))
        ],
    }
    if quiet_hours is not None:
        body["quiet_hours"] = dict(quiet_hours)
    return body


def refund_body(
    merchant_id: str,
    *,
    deadline_in: timedelta | float,
    refund_id: str | None = None,
    order_id: str | None = None,
    amount: str | Decimal = "3000.00",
    currency: str = "CNY",
    reason: str = "not as described",
    requested_ago: timedelta = timedelta(hours=1),
    signals: Mapping[str, Any] | None = None,
    now: datetime | None = None,
    **extra: Any,
) -> dict[str, Any]:
    """A refund of ``merchant_id`` whose deadline is ``deadline_in`` (a timedelta, or seconds)
    after ``now`` (default: the current time); ids default to fresh random ones
    (``R-<10 hex>``, ``O-<8 hex>``), ``signals`` to an empty package. ``extra`` fields are
    added as given (or replace the built ones), e.g. to send a broken value on purpose."""
    now = now if now is not None else datetime.now(UTC)
    window = deadline_in if isinstance(deadline_in, timedelta) else timedelta(seconds=deadline_in)
    return {
        "refund_id": refund_id if refund_id is not None else f"R-{uuid.uuid4().hex[:10]}",
        "merchant_id": merchant_id,
        "order_id": order_id if order_id is not None else f"O-{uuid.uuid4().hex[:8]}",
        "amount": str(amount),
        "currency": currency,
        "reason": reason,
        "requested_at": (now - requested_ago).isoformat(),
        "deadline_at": (now + window).isoformat(),
        "signals": copy.deepcopy(dict(signals if signals is not None else DEFAULT_SIGNALS)),
        **extra,
    }
