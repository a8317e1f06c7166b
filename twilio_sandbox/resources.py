"""Twilio-shaped JSON for messages, calls and errors (API version 2010-04-01)."""

from __future__ import annotations

from typing import Any

from fastapi.responses import JSONResponse

from twilio_sandbox.store import rfc2822

__all__ = ["TwilioApiError", "call_resource", "error_response", "message_resource"]

API_VERSION = "2010-04-01"


class TwilioApiError(Exception):
    def __init__(self, status: int, code: int, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


def error_response(err: TwilioApiError) -> JSONResponse:
    return JSONResponse(
        {
            "code": err.code,
            "message": err.message,
            "more_info": f"https://www.twilio.com/docs/errors/{err.code}",
            "status": err.status,
        },
        status_code=err.status,
    )


def message_resource(account_sid: str, sid: str, to: str, from_: str, body: str) -> dict[str, Any]:
    now = rfc2822()
    uri = f"/{API_VERSION}/Accounts/{account_sid}/Messages/{sid}.json"
    return {
        "sid": sid, "account_sid": account_sid, "messaging_service_sid": None,
        "to": to, "from": from_, "body": body, "status": "queued",
        "direction": "outbound-api", "api_version": API_VERSION,
        "num_segments": str(max(1, (len(body) + 152) // 153)), "num_media": "0",
        "price": None, "price_unit": "USD", "error_code": None, "error_message": None,
        "date_created": now, "date_updated": now, "date_sent": None, "uri": uri,
        "subresource_uris": {"media": uri.replace(".json", "/Media.json")},
    }  # fmt: skip


def call_resource(account_sid: str, sid: str, to: str, from_: str) -> dict[str, Any]:
    now = rfc2822()
    uri = f"/{API_VERSION}/Accounts/{account_sid}/Calls/{sid}.json"
    return {
        "sid": sid, "account_sid": account_sid, "parent_call_sid": None,
        "to": to, "to_formatted": to, "from": from_, "from_formatted": from_,
        "status": "queued", "direction": "outbound-api", "api_version": API_VERSION,
        "answered_by": None, "caller_name": None, "duration": None,
        "start_time": None, "end_time": None, "price": None, "price_unit": "USD",
        "date_created": now, "date_updated": now, "uri": uri, "subresource_uris": {},
    }  # fmt: skip
