"""Webhook signatures, the way Stripe signs its events.

``RefundWatch-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>." + body)>``

The timestamp is inside the signed text, so a captured request cannot be replayed later than
the receiver's tolerance. While a secret is being rotated the sender holds both and the header
carries one ``v1`` per secret; a receiver accepts the request if any ``v1`` matches any secret
it holds. Receivers verify the raw body bytes, before parsing the JSON.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Sequence

__all__ = [
    "EVENT_ID_HEADER",
    "EVENT_TYPE_HEADER",
    "SIGNATURE_HEADER",
    "SignatureError",
    "sign",
    "verify",
]

SIGNATURE_HEADER = "RefundWatch-Signature"
EVENT_ID_HEADER = "RefundWatch-Event-Id"
EVENT_TYPE_HEADER = "RefundWatch-Event-Type"
DEFAULT_TOLERANCE_S = 300


class SignatureError(ValueError):
    """The request is not signed by a secret we hold, or not recently enough."""


def _secrets(secret: str | Sequence[str]) -> list[bytes]:
    listed = [secret] if isinstance(secret, str) else list(secret)
    if not listed or any(not s for s in listed):
        raise ValueError("a webhook secret must not be empty")
    return [s.encode() for s in listed]


def _digest(secret: bytes, timestamp: int, body: bytes) -> str:
    return hmac.new(secret, str(timestamp).encode() + b"." + body, hashlib.sha256).hexdigest()


def sign(secret: str | Sequence[str], timestamp: int, body: bytes) -> str:
    """The ``RefundWatch-Signature`` value for ``body`` at ``timestamp``; one ``v1`` per secret."""
    parts = [f"t={int(timestamp)}"]
    parts += [f"v1={_digest(key, int(timestamp), body)}" for key in _secrets(secret)]
    return ",".join(parts)


def verify(
    secret: str | Sequence[str],
    header: str | None,
    body: bytes,
    now: float | None = None,
    tolerance_s: int = DEFAULT_TOLERANCE_S,
) -> int:
    """Check ``header`` against ``body``; returns the signed timestamp or raises SignatureError.

    ``secret`` may list several secrets (rotation): any one matching any ``v1`` is enough.
    Comparisons are constant-time.
    """
    if not header:
        raise SignatureError(f"missing {SIGNATURE_HEADER} header")
    timestamp: int | None = None
    signatures: list[str] = []
    for item in header.split(","):
        name, _, value = item.strip().partition("=")
        if name == "t" and value.isascii() and value.isdigit():
            timestamp = int(value)
        elif name == "v1" and value:
            signatures.append(value)
    if timestamp is None or not signatures:
        raise SignatureError(f"malformed {SIGNATURE_HEADER} header: needs t=… and v1=…")
    current = time.time() if now is None else now
    if abs(current - timestamp) > tolerance_s:
        raise SignatureError(
            f"timestamp {timestamp} is more than {tolerance_s} s from now: replayed or clock skew"
        )
    expected = [_digest(key, timestamp, body) for key in _secrets(secret)]
    # Compare against every candidate without stopping early: no timing hint about which matched.
    matched = False
    for candidate in signatures:
        for digest in expected:
            matched |= hmac.compare_digest(candidate.encode(), digest.encode())
    if not matched:
        raise SignatureError("signature does not match: wrong secret or modified body")
    return timestamp
