"""A stand-in for the marketplace platform's webhook endpoint, for the demo and the tests.

It does what docs/webhooks.md asks of a real receiver: verify the signature over the raw body
(``platform_webhooks.signing.verify``), reject stale or unsigned requests, deduplicate by event
id, and
acknowledge with 2xx. It can also be told to be down (503) for a while, for everything or for
one refund, or to refuse the first tries of every event, so retries can be watched.

    python -m demo.platform_receiver --port 8766 --secret "$REFUNDWATCH_PLATFORM_WEBHOOK_SECRET"

``POST /webhooks/refundwatch`` receives; ``GET /events`` lists what was acknowledged (with how
many times); ``GET /requests`` every request and the answer given; ``POST /control/down``
``{"seconds": 20, "refund_id": null}`` and ``POST /control/up`` switch it.
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from platform_webhooks.signing import (
    EVENT_ID_HEADER,
    EVENT_TYPE_HEADER,
    SIGNATURE_HEADER,
    SignatureError,
    verify,
)

__all__ = ["PlatformReceiver", "ReceivedEvent", "create_receiver_app", "main"]

PATH = "/webhooks/refundwatch"


@dataclass
class ReceivedEvent:
    event_id: str
    type: str
    refund_id: str
    payload: dict[str, Any]
    first_acknowledged_at: datetime
    acknowledgements: int = 1  # > 1 means the sender delivered it again after a 2xx


@dataclass(frozen=True)
class ReceivedRequest:
    at: datetime
    event_id: str | None
    attempt: str | None
    status: int
    note: str


@dataclass
class PlatformReceiver:
    """The receiver's state; tests running it in-process drive it directly."""

    secrets: Sequence[str]
    fail_first: int = 0  # answer 503 to the first N requests of every event (demo)
    tolerance_s: int = 300
    events: dict[str, ReceivedEvent] = field(default_factory=dict)
    requests: list[ReceivedRequest] = field(default_factory=list)
    _down_until: float | None = None  # time.monotonic(); inf = until told otherwise
    _down_refunds: dict[str, float] = field(default_factory=dict)
    _tries: dict[str, int] = field(default_factory=dict)

    def down(self, seconds: float | None = None, refund_id: str | None = None) -> None:
        """Answer 503 for ``seconds`` (None: until :meth:`up`), for all or one refund."""
        until = time.monotonic() + seconds if seconds is not None else float("inf")
        if refund_id is None:
            self._down_until = until
        else:
            self._down_refunds[refund_id] = until

    def up(self, refund_id: str | None = None) -> None:
        if refund_id is None:
            self._down_until = None
            self._down_refunds.clear()
        else:
            self._down_refunds.pop(refund_id, None)

    def is_down(self, refund_id: str | None) -> bool:
        now = time.monotonic()
        if self._down_until is not None and now < self._down_until:
            return True
        until = self._down_refunds.get(refund_id or "")
        return until is not None and now < until

    def acknowledgements(self, event_id: str) -> int:
        event = self.events.get(event_id)
        return event.acknowledgements if event else 0

    def refused(self, event_id: str) -> int:
        """How many requests for this event were answered with something other than 2xx."""
        return sum(1 for r in self.requests if r.event_id == event_id and r.status >= 300)

    def receive(self, headers: dict[str, str], body: bytes) -> tuple[int, dict[str, Any]]:
        event_id = headers.get(EVENT_ID_HEADER.lower())
        attempt = headers.get("refundwatch-delivery-attempt")

        def answer(status: int, note: str) -> tuple[int, dict[str, Any]]:
            at = datetime.now(UTC)
            self.requests.append(ReceivedRequest(at, event_id, attempt, status, note))
            return status, {"status": status, "note": note}

        try:
            verify(
                self.secrets, headers.get(SIGNATURE_HEADER.lower()), body, None, self.tolerance_s
            )
        except SignatureError as err:
            return answer(400, f"rejected: {err}")
        event = json.loads(body)
        event_type = headers.get(EVENT_TYPE_HEADER.lower())
        if not event_id or event.get("id") != event_id or event.get("type") != event_type:
            return answer(400, "rejected: the event id or type headers and the body differ")
        refund_id = str(event.get("refund", {}).get("refund_id", ""))
        if self.is_down(refund_id):
            return answer(503, "down")
        tries = self._tries[event_id] = self._tries.get(event_id, 0) + 1
        if tries <= self.fail_first:
            return answer(503, f"refusing try {tries} of {self.fail_first} on purpose")
        known = self.events.get(event_id)
        if known is not None:
            known.acknowledgements += 1  # a real receiver would just answer 200 again
            return answer(200, "duplicate")
        self.events[event_id] = ReceivedEvent(
            event_id, str(event.get("type")), refund_id, event, datetime.now(UTC)
        )
        return answer(200, "accepted")


class DownRequest(BaseModel):
    seconds: float | None = None
    refund_id: str | None = None


def create_receiver_app(receiver: PlatformReceiver) -> FastAPI:
    app = FastAPI(title="platform webhook receiver (refundwatch demo)")

    @app.post(PATH)
    async def webhook(request: Request) -> JSONResponse:
        body = await request.body()  # the raw bytes: the signature covers exactly these
        status, content = receiver.receive(dict(request.headers), body)
        return JSONResponse(content, status_code=status)

    @app.get("/events")
    async def events() -> list[dict[str, Any]]:
        return [asdict(event) for event in receiver.events.values()]

    @app.get("/requests")
    async def requests() -> list[dict[str, Any]]:
        return [asdict(item) for item in receiver.requests]

    @app.post("/control/down")
    async def down(body: DownRequest) -> dict[str, str]:
        receiver.down(body.seconds, body.refund_id)
        return {"status": "down"}

    @app.post("/control/up")
    async def up(body: DownRequest) -> dict[str, str]:
        receiver.up(body.refund_id)
        return {"status": "up"}

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    return app


def main(argv: Sequence[str] | None = None) -> None:
    import uvicorn

    parser = argparse.ArgumentParser(description="The platform's side of refundwatch webhooks.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8766)
    parser.add_argument(
        "--secret", required=True, help="webhook secret(s), comma-separated during rotation"
    )
    parser.add_argument(
        "--fail-first", type=int, default=0, help="answer 503 to the first N tries of each event"
    )
    args = parser.parse_args(argv)
    secrets = [s.strip() for s in args.secret.split(",") if s.strip()]
    receiver = PlatformReceiver(secrets, fail_first=args.fail_first)
    uvicorn.run(create_receiver_app(receiver), host=args.host, port=args.port, log_level="warning")


if __name__ == "__main__":
    main()
