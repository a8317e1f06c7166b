"""X-Twilio-Signature verification: the dependency every webhook route uses."""

from __future__ import annotations

from typing import Annotated

import structlog
from fastapi import Depends, HTTPException, Request, status
from twilio.request_validator import RequestValidator

from api.deps import get_services
from application.services import Services

__all__ = ["SignedForm", "verified_form"]

log = structlog.get_logger(__name__)


async def verified_form(
    request: Request, services: Annotated[Services, Depends(get_services)]
) -> dict[str, str]:
    """The webhook's form fields, after its signature checked out; 403 otherwise.

    Twilio signs the URL it called (our PUBLIC_BASE_URL + path + query) and the POST fields,
    so the URL is rebuilt from configuration, never from the Host header a caller controls.
    """
    form = await request.form()
    params = {key: str(value) for key, value in form.items()}
    url = services.settings.public_base_url + request.url.path
    if request.url.query:
        url += "?" + request.url.query
    signature = request.headers.get("x-twilio-signature", "")
    validator = RequestValidator(services.settings.twilio_auth_token.get_secret_value())
    if not signature or not validator.validate(url, params, signature):
        log.warning("webhook_signature_rejected", path=request.url.path, present=bool(signature))
        raise HTTPException(status.HTTP_403_FORBIDDEN, "invalid or missing X-Twilio-Signature")
    if any("\x00" in value for value in params.values()):
        raise HTTPException(status.HTTP_400_BAD_REQUEST, "form fields must not contain NUL")
    return params


SignedForm = Annotated[dict[str, str], Depends(verified_form)]
