"""Twilio's error body, and the codes and texts the sandbox produces."""

from __future__ import annotations

from typing import Any

__all__ = [
    "CARRIER_ERRORS",
    "TwilioApiError",
    "check_callback_url",
    "default_message",
    "error_body",
]

# Titles from Twilio's error dictionary (https://www.twilio.com/docs/api/errors).
# SMS-only and call-only codes are told apart in scenario.py (channel_of).
_API_MESSAGES = {
    20003: "Authenticate",
    20404: "The requested resource was not found",
    20429: "Too Many Requests",
    21211: "The 'To' number is not a valid phone number.",
    21214: "'To' phone number cannot be reached",
    21215: "Geo Permission configuration is not permitting call",
    21216: "Call blocked by Twilio blocklist",
    21217: "Phone number does not appear to be valid",
    21408: (
        "Permission to send an SMS has not been enabled for the region indicated by the 'To' number"
    ),
    21610: "Attempt to send to unsubscribed recipient",
    21611: "This 'From' number has exceeded the maximum number of queued messages",
    21612: "The 'To' phone number is not currently reachable via SMS",
    21614: "'To' number is not a valid mobile number",
    21635: "'To' number cannot be a landline",
}

# Carrier errors of undelivered/failed messages (error_message on the resource).
CARRIER_ERRORS = {
    30001: "Queue overflow",
    30002: "Account suspended",
    30003: "Unreachable destination handset",
    30004: "Message blocked",
    30005: "Unknown destination handset",
    30006: "Landline or unreachable carrier",
    30007: "Message filtered",
    30008: "Unknown error",
}


def default_message(code: int) -> str:
    return _API_MESSAGES.get(code) or CARRIER_ERRORS.get(code) or f"Twilio error {code}"


def error_body(status: int, code: int, message: str) -> dict[str, Any]:
    return {
        "code": code,
        "message": message,
        "more_info": f"https://www.twilio.com/docs/errors/{code}",
        "status": status,
    }


class TwilioApiError(Exception):
    """An error answer of the REST API, rendered as Twilio renders it."""

    def __init__(self, status: int, code: int, message: str | None = None) -> None:
        self.status = status
        self.code = code
        self.message = message or default_message(code)
        super().__init__(f"{status} {code}: {self.message}")

    def body(self) -> dict[str, Any]:
        return error_body(self.status, self.code, self.message)


def check_callback_url(url: str | None) -> str | None:
    """StatusCallback must be an absolute http(s) URL (Twilio's 21609)."""
    if url is not None and not url.startswith(("http://", "https://")):
        raise TwilioApiError(400, 21609, f"The StatusCallback URL {url} is not a valid URL.")
    return url
