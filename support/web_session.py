"""The support pages' sign-in cookie: ``<expiry>.<hmac>``, signed with the support token used.

No session table: the cookie proves that its holder knew one of ``REFUNDWATCH_SUPPORT_TOKENS``
when it was issued, without containing the token. Removing a token from the settings ends every
session signed with it; each cookie also expires on its own.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

__all__ = ["COOKIE_NAME", "SESSION_TTL", "issue_session", "matching_token", "session_is_valid"]

COOKIE_NAME = "rw_support"
SESSION_TTL = timedelta(hours=12)


def _sign(token: str, expires: int) -> str:
    message = f"refundwatch-support-session:{expires}".encode()
    return hmac.new(token.encode(), message, hashlib.sha256).hexdigest()


def matching_token(candidate: str, tokens: Sequence[str]) -> str | None:
    """The configured token equal to ``candidate`` (compared in constant time), if any."""
    found: str | None = None
    for token in tokens:
        if hmac.compare_digest(token.encode(), candidate.encode()):
            found = token
    return found


def issue_session(token: str, *, now: datetime | None = None) -> str:
    expires = int(((now or datetime.now(UTC)) + SESSION_TTL).timestamp())
    return f"{expires}.{_sign(token, expires)}"


def session_is_valid(
    cookie: str | None, tokens: Sequence[str], *, now: datetime | None = None
) -> bool:
    if not cookie:
        return False
    expires_text, _, signature = cookie.partition(".")
    if not expires_text.isdigit() or not signature:
        return False
    expires = int(expires_text)
    if expires <= (now or datetime.now(UTC)).timestamp():
        return False
    return any(hmac.compare_digest(_sign(token, expires), signature) for token in tokens)
