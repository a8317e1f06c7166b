"""The merchant's action link: ``/m/<token>`` in every SMS, the way onto the merchant page.

A token is a random 128-bit id and a short HMAC of it (``<22 chars id><8 chars tag>``, URL
safe, 30 characters: every character counts in an SMS). The tag lets a tampered or made-up
token be refused before the database is asked; the id is what the database knows, and only
as its SHA-256 (a leaked table opens nothing). What a link may do (which merchant, which
refunds, until when, revoked or not) lives in its row (db/merchant_links.py); this module
only mints and reads tokens.

Forms on the merchant page carry a form token bound to the link and the refund (an HMAC too),
so a POST must come from a page rendered for that link: GET never acts, and a POST without
the page's token is refused.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from dataclasses import dataclass

__all__ = [
    "TOKEN_LENGTH",
    "LinkToken",
    "form_token",
    "form_token_ok",
    "link_key",
    "mint_token",
    "read_token",
]

_ID_BYTES = 16  # 128 bits: unguessable
_TAG_BYTES = 6  # 48 bits: a made-up token reaches the database once in 2**48 tries
_ID_CHARS = 22  # base64url of 16 bytes, unpadded
_TAG_CHARS = 8  # base64url of 6 bytes
TOKEN_LENGTH = _ID_CHARS + _TAG_CHARS


def link_key(secret: str) -> bytes:
    """The links' HMAC key, derived from the merchant token secret under its own label."""
    return hmac.new(secret.encode(), b"refundwatch action links v1", hashlib.sha256).digest()


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _tag(key: bytes, raw_id: bytes) -> str:
    return _b64(hmac.new(key, b"link:" + raw_id, hashlib.sha256).digest()[:_TAG_BYTES])


@dataclass(frozen=True)
class LinkToken:
    token: str  # what goes in the URL
    id_hash: str  # sha256 hex of the raw id: what the database stores and looks up


def _hash(raw_id: bytes) -> str:
    return hashlib.sha256(raw_id).hexdigest()


def mint_token(key: bytes, raw_id: bytes | None = None) -> LinkToken:
    raw = raw_id if raw_id is not None else secrets.token_bytes(_ID_BYTES)
    return LinkToken(_b64(raw) + _tag(key, raw), _hash(raw))


def read_token(key: bytes, token: str) -> LinkToken | None:
    """The token's id hash, or None when it is malformed or its tag does not match."""
    if len(token) != TOKEN_LENGTH or not token.isascii():
        return None
    encoded, tag = token[:_ID_CHARS], token[_ID_CHARS:]
    try:
        raw = base64.urlsafe_b64decode(encoded + "==")
    except ValueError:
        return None
    if len(raw) != _ID_BYTES or _b64(raw) != encoded:
        return None
    if not hmac.compare_digest(_tag(key, raw), tag):
        return None
    return LinkToken(token, _hash(raw))


def form_token(key: bytes, id_hash: str, refund_id: str) -> str:
    message = f"form:{id_hash}:{refund_id}".encode()
    return _b64(hmac.new(key, message, hashlib.sha256).digest()[:16])


def form_token_ok(key: bytes, id_hash: str, refund_id: str, given: str) -> bool:
    return hmac.compare_digest(form_token(key, id_hash, refund_id), given)
