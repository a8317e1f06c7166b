"""The HTTP contract as /openapi.json tells it: every status each route can answer, with its
error body, in one table.

FastAPI documents what a route declares (its success status and a 422 when it takes input).
What the layers around the routes answer is added here, so a client generated from the
schema knows all of it: 401/403 from the bearer tokens (api/auth.py), 413 from the body caps
(api/body_limits.py), 422 from the NUL check (api/refuse_nul.py) and validation, 503 while the
database or Temporal is away (api/errors.py, application/watch_client.py), and each route's own
refusals. A route missing from ``ROUTES`` fails the schema's generation (and so the tests).
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from pydantic import BaseModel, Field

__all__ = ["ROUTES", "ErrorOut", "ValidationErrorOut", "document_routes"]


class Problem(BaseModel):
    loc: list[str | int] = Field(description="Where: body/query/path, then the field")
    msg: str
    type: str
    input: Any = Field(None, description="The refused value, only when it is short")
    ctx: dict[str, Any] | None = None


class ValidationErrorOut(BaseModel):
    detail: list[Problem]
    more_errors: int | None = Field(None, description="Problems not listed (at most 20 are)")


class ConflictOut(BaseModel):
    message: str
    fields: list[str] = Field(description="The fields that differ from the first request")


class ErrorOut(BaseModel):
    detail: str | ConflictOut | list[Problem]


_TEXT = {
    400: "Malformed multipart or form data",
    401: "Missing or unknown bearer token",
    403: "The token's role may not do this (or another merchant's refund)",
    404: "Unknown refund, merchant or file",
    409: "Conflicts with what is recorded (the detail says what)",
    413: "The request body is larger than this route takes",
    415: "A file is not JPEG, PNG, WebP or PDF, or not what it claims",
    422: "A field or parameter is invalid (names it)",
    500: "Recorded, but the file's bytes are missing from the evidence store",
    503: "The database or Temporal is away for a moment: send the same request again after "
    "Retry-After seconds",
}
# Answered by the layers around every route.
_EVERY = (413, 422)
_TOKEN = (401, 403, 503)
_WEBHOOK = (400, 403)

ROUTES: dict[tuple[str, str], tuple[int, ...]] = {
    ("POST", "/v1/merchants"): (*_TOKEN, 200),
    ("POST", "/v1/refunds"): (*_TOKEN, 200, 409),
    ("POST", "/v1/refunds/batch"): _TOKEN,
    ("POST", "/v1/refunds/{refund_id}/resolution"): (*_TOKEN, 404, 409),
    ("POST", "/v1/refunds/{refund_id}/deadline"): (*_TOKEN, 404, 409),
    ("GET", "/v1/refunds/{refund_id}"): (*_TOKEN, 404),
    ("GET", "/v1/refunds/{refund_id}/timeline"): (*_TOKEN, 404),
    ("GET", "/v1/support/refunds/{refund_id}/history"): (*_TOKEN, 404),
    ("GET", "/v1/support/refunds/{refund_id}/outbound-events"): (*_TOKEN, 404),
    ("GET", "/v1/support/at-risk"): _TOKEN,
    ("GET", "/v1/support/losses"): _TOKEN,
    ("GET", "/v1/support/merchants/{merchant_id}"): (*_TOKEN, 404),
    ("GET", "/v1/merchant/notices"): _TOKEN,
    ("POST", "/v1/merchant/notices/{notice_id}/read"): (*_TOKEN, 404),
    ("POST", "/v1/merchant/notices/{notice_id}/ack"): (*_TOKEN, 404),
    ("POST", "/v1/merchant/refunds/{refund_id}/answer"): (*_TOKEN, 202, 409),
    ("POST", "/v1/refunds/{refund_id}/evidence"): (*_TOKEN, 400, 404, 409, 415),
    ("GET", "/v1/merchant/refunds/{refund_id}/evidence"): (*_TOKEN, 404),
    ("GET", "/v1/support/refunds/{refund_id}/evidence"): (*_TOKEN, 404),
    ("GET", "/v1/support/evidence/files/{file_id}"): (*_TOKEN, 404, 500),
    ("POST", "/twilio/status/sms"): (*_WEBHOOK, 503),
    ("POST", "/twilio/status/call"): (*_WEBHOOK, 503),
    ("POST", "/twilio/voice/amd"): (*_WEBHOOK, 503),
    # TwiML even while the database is away (api/outage_twiml.py): never a 503.
    ("POST", "/twilio/sms"): _WEBHOOK,
    ("POST", "/twilio/voice"): _WEBHOOK,
    ("POST", "/twilio/voice/gather"): _WEBHOOK,
    ("GET", "/healthz"): (),
    ("GET", "/readyz"): (503,),
}
# Routes whose 200 is TwiML for Twilio, not JSON.
_TWIML = {("POST", "/twilio/sms"), ("POST", "/twilio/voice"), ("POST", "/twilio/voice/gather")}
_MODELS: tuple[type[BaseModel], ...] = (ErrorOut, ValidationErrorOut)
_SUCCESS_TEXT = {200: "Done (or the same request again: its first answer)", 202: "Kept"}


def _ref(model: type[BaseModel]) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{model.__name__}"}


def _response(code: int, declared: dict[str, Any] | None) -> dict[str, Any]:
    if code < 400:
        return declared or {"description": _SUCCESS_TEXT.get(code, "Done")}
    model = ValidationErrorOut if code == 422 else ErrorOut
    description = (declared or {}).get("description") or _TEXT[code]
    response: dict[str, Any] = {
        "description": description,
        "content": {"application/json": {"schema": _ref(model)}},
    }
    if code == 503:
        response["headers"] = {
            "Retry-After": {"description": "Seconds to wait", "schema": {"type": "integer"}}
        }
    if code == 401:
        response["headers"] = {
            "WWW-Authenticate": {"description": "Bearer", "schema": {"type": "string"}}
        }
    return response


def _schemas(spec: dict[str, Any]) -> None:
    schemas = spec.setdefault("components", {}).setdefault("schemas", {})
    for model in _MODELS:
        generated = model.model_json_schema(ref_template="#/components/schemas/{model}")
        schemas.update(generated.pop("$defs", {}))
        schemas[model.__name__] = generated


def document_routes(app: FastAPI) -> None:
    """Have ``app.openapi()`` list every status of ``ROUTES`` on its operation."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is not None:
            return app.openapi_schema
        spec = get_openapi(
            title=app.title,
            version=app.version,
            description=app.description,
            routes=app.routes,
        )
        _schemas(spec)
        for path, operations in spec["paths"].items():
            for method, operation in operations.items():
                codes = ROUTES[(method.upper(), path)]  # KeyError: add the route above
                responses = operation.setdefault("responses", {})
                if (method.upper(), path) in _TWIML:
                    responses["200"] = {
                        "description": "TwiML for Twilio to play or send",
                        "content": {"application/xml": {"schema": {"type": "string"}}},
                    }
                for code in sorted({*codes, *_EVERY, *map(int, responses)}):
                    declared = responses.get(str(code))
                    if code == 200 and "201" in responses and "content" not in (declared or {}):
                        # The same request again: the first answer's body, with 200.
                        declared = {**responses["201"], **(declared or {})}
                    responses[str(code)] = _response(code, declared)
        app.openapi_schema = spec
        return spec

    app.openapi = openapi  # type: ignore[method-assign]
