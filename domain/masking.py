"""Masking of personal data for logs and support views: numbers and names never appear whole."""

from __future__ import annotations

import re
from collections.abc import MutableMapping
from typing import Any

__all__ = ["mask_name", "mask_phone", "structlog_masker"]

# E.164 numbers (all numbers in refundwatch are); timestamps, SIDs and amounts are left alone.
_PHONE = re.compile(r"(?<![\w+])\+\d{7,15}(?!\d)")
_PERSONAL_KEYS = {"phone", "to", "from", "from_", "name", "contact_name", "body"}


def mask_phone(phone: str) -> str:
    """'+8613812345678' → '+86138****5678' (country code and prefix kept, middle hidden)."""
    digits = phone.strip()
    if len(digits) <= 6:
        return "*" * len(digits)
    keep_start = 6 if len(digits) >= 12 else 3
    return digits[:keep_start] + "****" + digits[-4:]


def mask_name(name: str) -> str:
    """'Zhang Wei' → 'Z***'; keeps one letter so support can tell contacts apart."""
    name = name.strip()
    return (name[0] + "***") if name else ""


def _mask_value(key: str, value: Any) -> Any:
    if not isinstance(value, str):
        return value
    if key in {"name", "contact_name"}:
        return mask_name(value)
    return _PHONE.sub(lambda m: mask_phone(m.group(0)), value)


def structlog_masker(
    _logger: object, _method: str, event_dict: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    """A structlog processor: the last line of defence if a number slips into a log call."""
    for key, value in list(event_dict.items()):
        if key in _PERSONAL_KEYS or isinstance(value, str):
            event_dict[key] = _mask_value(key, value)
    return event_dict
