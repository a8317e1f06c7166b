"""Route dependencies: the running sandbox, and Twilio's HTTP Basic authentication."""

from __future__ import annotations

import base64
import binascii
import hmac
from typing import Annotated, cast

from fastapi import Depends, Request

from twilio_sandbox.errors import TwilioApiError
from twilio_sandbox.sandbox import Sandbox

__all__ = ["AccountSid", "SandboxDep", "get_sandbox"]


def get_sandbox(request: Request) -> Sandbox:
    return cast(Sandbox, request.app.state.sandbox)


SandboxDep = Annotated[Sandbox, Depends(get_sandbox)]


def _credentials(header: str) -> tuple[str, str]:
    scheme, _, encoded = header.partition(" ")
    if scheme.lower() != "basic":
        return "", ""
    try:
        decoded = base64.b64decode(encoded.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return "", ""
    user, _, password = decoded.partition(":")
    return user, password


def authenticated(request: Request, account_sid: str, sandbox: SandboxDep) -> str:
    """The account in the path, once the caller proved it is that account (else 401 20003).
    The primary auth token, or the secondary once one exists (tokens.py), authenticates."""
    user, password = _credentials(request.headers.get("authorization", ""))
    expected = sandbox.config.account_sid
    valid = hmac.compare_digest(user.encode(), expected.encode()) and sandbox.tokens.accepts(
        password
    )
    if not valid or account_sid != expected:
        raise TwilioApiError(401, 20003, "Authenticate")
    return account_sid


AccountSid = Annotated[str, Depends(authenticated)]
