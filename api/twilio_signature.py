"""X-Twilio-Signature verification: the dependency every webhook route uses.

Twilio signs the URL it called (our PUBLIC_BASE_URL + path + query; a `#…` fragment of
connection overrides is never sent) followed by the POST fields sorted by name, each name's
values sorted, with HMAC-SHA1 of the account's primary auth token
(twilio.com/docs/usage/webhooks/webhooks-security; twilio-python's RequestValidator). The form
is checked as it came, repeated keys included; during a token rotation each token Twilio may
sign with is tried (TWILIO_AUTH_TOKEN, then TWILIO_WEBHOOK_AUTH_TOKENS).
"""

from __future__ import annotations

from typing import Annotated

import structlog
from fastapi import Depends, HTTPException, Request, status
from fastapi.security import APIKeyHeader
from twilio.request_validator import RequestValidator

from api.deps import get_services
from application.services import Services

__all__ = ["SignedForm", "verified_form"]

log = structlog.get_logger(__name__)


# Declared in /openapi.json as the webhooks' security scheme; checked below, not by it.
_SIGNATURE = APIKeyHeader(
    name="X-Twilio-Signature",
    scheme_name="TwilioSignature",
    description="HMAC-SHA1 of the URL and POST fields with the Twilio auth token (Twilio signs)",
    auto_error=False,
)


async def verified_form(
    request: Request,
    services: Annotated[Services, Depends(get_services)],
    _signature: Annotated[str | None, Depends(_SIGNATURE)],
) -> dict[str, str]:
    """The webhook's form fields (the first value of each), after its signature checked out;
    403 otherwise. The URL is rebuilt from configuration, never from the Host header."""
    form = await request.form()
    url = services.settings.public_base_url + request.url.path
    if request.url.query:
        url += "?" + request.url.query
    signature = request.headers.get("x-twilio-signature", "")
    settings = services.settings
    tokens = [settings.twilio_auth_token, *settings.twilio_webhook_auth_tokens]
    # Starlette's FormData has getlist(): the validator signs every value of a repeated key.
    valid = bool(signature) and any(
        RequestValidator(token.get_secret_value()).validate(url, form, signature)
        for token in tokens
    )
    if not valid:
        log.warning("webhook_signature_rejected", path=request.url.path, present=bool(signature))
        raise HTTPException(status.HTTP_403_FORBIDDEN, "invalid or missing X-Twilio-Signature")
    params = {key: str(value) for key, value in form.items()}
    if any("\x00" in value for value in params.values()):
        raise HTTPException(status.HTTP_400_BAD_REQUEST, "form fields must not contain NUL")
    return params


SignedForm = Annotated[dict[str, str], Depends(verified_form)]
