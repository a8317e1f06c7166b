"""schemathesis against the live API's own OpenAPI document: no operation answers 5xx, none
answers a status its operation does not list, and every answer has the content type and the
body schema the document gives for that status (api/contract.py).

Every operation gets ``REFUNDWATCH_SCHEMA_EXAMPLES`` (default 30) generated requests, valid and
invalid, sent with the token its first security scheme names (platform, support or merchant
token; Twilio webhooks signed), so the fuzz reaches the handlers instead of stopping at 401/403.

NUL characters are generated too: PostgreSQL cannot store them, so the API must refuse them.
"""

from __future__ import annotations

import asyncio
import os
from typing import Any
from urllib.parse import urlencode

import requests
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import Case, GenerationMode
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)
from schemathesis.core.result import Err
from twilio.request_validator import RequestValidator

from api.auth import merchant_token
from demo.payloads import merchant_body
from tests.harness.stack import LiveStack

EXAMPLES = int(os.environ.get("REFUNDWATCH_SCHEMA_EXAMPLES", "30"))
_MERCHANT = "m-schema-fuzz"
AnyCase = Case[Any]


CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]


def _credentials(stack: LiveStack, case: AnyCase) -> dict[str, str]:
    """The token of the operation's first security scheme, as a generated client would send."""
    required = case.operation.definition.raw.get("security") or [{}]
    scheme = next(iter(required[0]), None)
    if scheme == "MerchantToken":
        secret = stack.settings.merchant_token_secret.get_secret_value()
        return {"Authorization": f"Bearer {merchant_token(secret, _MERCHANT)}"}
    if scheme == "SupportToken":
        return stack.support()
    if scheme == "PlatformToken":
        return stack.platform()
    return {}


def _send(stack: LiveStack, base_url: str, case: AnyCase, session: requests.Session) -> Any:
    """One generated request; webhooks are signed over exactly the URL and form sent."""
    if not case.operation.path.startswith("/twilio/"):
        return case.call(base_url=base_url, session=session, headers=_credentials(stack, case))
    path = case.formatted_path
    query = urlencode(case.query or {}, doseq=True)
    path_and_query = f"{path}?{query}" if query else path
    form = case.body if isinstance(case.body, dict) else {}
    form = {str(k): str(v) for k, v in form.items()}
    token = stack.settings.twilio_auth_token.get_secret_value()
    signature = RequestValidator(token).compute_signature(
        stack.settings.public_base_url + path_and_query, form
    )
    return session.post(
        base_url + path_and_query,
        data=form,
        headers={"X-Twilio-Signature": signature},
        timeout=30,
    )


def _fuzz(stack: LiveStack, base_url: str) -> tuple[int, list[str]]:
    """Run every operation's examples (in a thread: the API serves on the test's loop).
    Returns how many requests were sent, and what failed."""
    schema = schemathesis.openapi.from_url(f"{base_url}/openapi.json")
    failures: list[str] = []
    sent = 0
    with requests.Session() as session:
        for result in schema.get_all_operations():
            if isinstance(result, Err):
                failures.append(f"unusable operation in the schema: {result.err()}")
                continue
            operation = result.ok()
            strategy = st.one_of(
                operation.as_strategy(GenerationMode.POSITIVE),
                operation.as_strategy(GenerationMode.NEGATIVE),
            )

            @settings(
                max_examples=EXAMPLES,
                deadline=None,
                database=None,
                suppress_health_check=list(HealthCheck),
            )
            @given(case=strategy)
            def check(case: AnyCase) -> None:
                nonlocal sent
                sent += 1
                response = _send(stack, base_url, case, session)
                case.validate_response(response, checks=CHECKS)

            try:
                check()
            except Exception as failure:  # every operation's failure is reported, not the first
                failures.append(f"{operation.label}: {str(failure)[:2000]}")
    return sent, failures


async def test_no_operation_answers_5xx(stack: LiveStack) -> None:
    merchant = merchant_body(
        _MERCHANT, ["+8613900000777"], name="Schema Fuzz", contact_names=["Fuzz"]
    )
    response = await stack.http.post("/v1/merchants", headers=stack.platform(), json=merchant)
    assert response.status_code in (200, 201)
    sent, failures = await asyncio.to_thread(_fuzz, stack, str(stack.http.base_url).rstrip("/"))
    assert not failures, "\n\n".join(failures)
    assert sent >= 10 * min(EXAMPLES, 10), f"only {sent} requests were generated"
