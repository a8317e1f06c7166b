"""Bearer tokens per role. Merchant tokens are derived from a secret, so no token table exists."""

from __future__ import annotations

import base64
import hashlib
import hmac
from dataclasses import dataclass
from enum import StrEnum
from typing import Annotated

from fastapi import Depends, HTTPException, Request, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from api.deps import get_services
from application.services import Services

__all__ = [
    "Caller",
    "MerchantCaller",
    "PlatformCaller",
    "ReaderCaller",
    "Role",
    "fingerprint",
    "merchant_token",
    "require_merchant",
    "require_platform",
    "require_reader",
]


class Role(StrEnum):
    PLATFORM = "platform"
    SUPPORT = "support"
    MERCHANT = "merchant"


@dataclass(frozen=True)
class Caller:
    role: Role
    merchant_id: str | None = None
    # Who under the role: a fingerprint of the token (never the token), for the audit.
    viewer: str | None = None


def fingerprint(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()[:12]


def merchant_token(secret: str, merchant_id: str) -> str:
    """`mt.<base64url(merchant id)>.<hmac>`: minted with `refundwatch token merchant ID`."""
    encoded = base64.urlsafe_b64encode(merchant_id.encode()).decode().rstrip("=")
    signature = hmac.new(secret.encode(), merchant_id.encode(), hashlib.sha256).hexdigest()[:40]
    return f"mt.{encoded}.{signature}"


def _verify_merchant(secret: str, token: str) -> str | None:
    parts = token.split(".")
    if len(parts) != 3 or parts[0] != "mt":
        return None
    try:
        padded = parts[1] + "=" * (-len(parts[1]) % 4)
        merchant_id = base64.urlsafe_b64decode(padded).decode()
    except (ValueError, UnicodeDecodeError):
        return None
    return merchant_id if hmac.compare_digest(merchant_token(secret, merchant_id), token) else None


def _identify(request: Request, services: Services) -> Caller:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token:
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            "missing bearer token: send 'Authorization: Bearer <token>'",
            headers={"WWW-Authenticate": "Bearer"},
        )
    settings = services.settings
    for role, tokens in (
        (Role.PLATFORM, settings.platform_tokens),
        (Role.SUPPORT, settings.support_tokens),
    ):
        if any(hmac.compare_digest(t.get_secret_value(), token) for t in tokens):
            return Caller(role, viewer=fingerprint(token))
    merchant_id = _verify_merchant(settings.merchant_token_secret.get_secret_value(), token)
    if merchant_id is not None:
        return Caller(Role.MERCHANT, merchant_id)
    raise HTTPException(
        status.HTTP_401_UNAUTHORIZED, "unknown token", headers={"WWW-Authenticate": "Bearer"}
    )


# The three bearer tokens as /openapi.json declares them (security schemes). They only
# document: _identify reads the header itself, so that a missing or unknown token is a 401
# saying what to send, whichever scheme a route lists.
_SCHEMES = {
    Role.PLATFORM: HTTPBearer(
        scheme_name="PlatformToken",
        description="A token of REFUNDWATCH_PLATFORM_TOKENS: the platform's integration",
        auto_error=False,
    ),
    Role.SUPPORT: HTTPBearer(
        scheme_name="SupportToken",
        description="A token of REFUNDWATCH_SUPPORT_TOKENS: read-only support staff",
        auto_error=False,
    ),
    Role.MERCHANT: HTTPBearer(
        scheme_name="MerchantToken",
        description="A merchant's own token, minted with `refundwatch token merchant ID`",
        auto_error=False,
    ),
}
Bearer = HTTPAuthorizationCredentials | None


def _check(request: Request, services: Services, *roles: Role) -> Caller:
    caller = _identify(request, services)
    if caller.role not in roles:
        allowed = " or ".join(r.value for r in roles)
        raise HTTPException(status.HTTP_403_FORBIDDEN, f"this call needs a {allowed} token")
    return caller


async def require_platform(
    request: Request,
    services: Annotated[Services, Depends(get_services)],
    _platform: Annotated[Bearer, Depends(_SCHEMES[Role.PLATFORM])],
) -> Caller:
    return _check(request, services, Role.PLATFORM)


async def require_reader(
    request: Request,
    services: Annotated[Services, Depends(get_services)],
    _support: Annotated[Bearer, Depends(_SCHEMES[Role.SUPPORT])],
    _platform: Annotated[Bearer, Depends(_SCHEMES[Role.PLATFORM])],
) -> Caller:
    return _check(request, services, Role.SUPPORT, Role.PLATFORM)


async def require_merchant(
    request: Request,
    services: Annotated[Services, Depends(get_services)],
    _merchant: Annotated[Bearer, Depends(_SCHEMES[Role.MERCHANT])],
) -> Caller:
    return _check(request, services, Role.MERCHANT)


# The callers a route accepts, declared once.
PlatformCaller = Annotated[Caller, Depends(require_platform)]
ReaderCaller = Annotated[Caller, Depends(require_reader)]
MerchantCaller = Annotated[Caller, Depends(require_merchant)]
