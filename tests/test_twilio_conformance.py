"""The sandbox's REST answers against Twilio's published contract, field by field.

Reference: twilio/twilio-oai, spec/yaml/twilio_api_v2010.yaml (the same content as
spec/json/twilio_api_v2010.json), commit d50069b44ea8cd23141385bdb6db48f16ff75bb5:
`components.schemas` `api.v2010.account.call` and `api.v2010.account.message` (fields, types,
patterns, `nullable: true` on every field, `format: date-time-rfc-2822`), `call_enum_status`,
`message_enum_status`, `message_enum_direction`, the ListCall/ListMessage parameters and their
`ListCallResponse`/`ListMessageResponse` envelopes. The spec is not copied here: the facts this
test holds the sandbox to are listed below, each as the spec states it. Segment counts follow
https://www.twilio.com/docs/glossary/what-sms-character-limit and
https://www.twilio.com/docs/glossary/what-is-ucs-2-character-encoding (GSM-7 160/153, UCS-2
70/67); the error body and the client's exception classes follow twilio-python 9
(`twilio/base/version.py` Version.exception, `twilio/base/page.py` Page).
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from email.utils import parsedate_to_datetime
from typing import Any

import httpx
import pytest
from twilio.base.exceptions import TwilioException, TwilioRestException

from tests.harness.http_server import serve_asgi
from tests.test_twilio_sandbox import OURS, SID, TOKEN, sandbox_config, twilio_client
from twilio_sandbox import Scenario, create_app

# (type, pattern or enum) per field; every field is nullable in the spec.
STRING, INTEGER, OBJECT, DATE = "string", "integer", "object", "date-time-rfc-2822"
CALL_STATUS = {
    "queued",
    "ringing",
    "in-progress",
    "completed",
    "busy",
    "failed",
    "no-answer",
    "canceled",
}
MESSAGE_STATUS = {
    "queued",
    "sending",
    "sent",
    "failed",
    "delivered",
    "undelivered",
    "receiving",
    "received",
    "accepted",
    "scheduled",
    "read",
    "partially_delivered",
    "canceled",
}
CALL_DIRECTION = {
    "inbound",
    "outbound-api",
    "outbound-dial",
    "trunking-terminating",
    "trunking-originating",
}
MESSAGE_DIRECTION = {"inbound", "outbound-api", "outbound-call", "outbound-reply"}
CALL: dict[str, tuple[str, str | set[str] | None]] = {
    "sid": (STRING, r"^CA[0-9a-fA-F]{32}$"),
    "date_created": (DATE, None),
    "date_updated": (DATE, None),
    "parent_call_sid": (STRING, r"^CA[0-9a-fA-F]{32}$"),
    "account_sid": (STRING, r"^AC[0-9a-fA-F]{32}$"),
    "to": (STRING, None),
    "to_formatted": (STRING, None),
    "from": (STRING, None),
    "from_formatted": (STRING, None),
    "phone_number_sid": (STRING, r"^PN[0-9a-fA-F]{32}$"),
    "status": (STRING, CALL_STATUS),
    "start_time": (DATE, None),
    "end_time": (DATE, None),
    "duration": (STRING, None),
    "price": (STRING, None),
    "price_unit": (STRING, None),
    "direction": (STRING, CALL_DIRECTION),
    "answered_by": (STRING, None),
    "api_version": (STRING, None),
    "forwarded_from": (STRING, None),
    "group_sid": (STRING, r"^GP[0-9a-fA-F]{32}$"),
    "caller_name": (STRING, None),
    "queue_time": (STRING, None),
    "trunk_sid": (STRING, r"^TK[0-9a-fA-F]{32}$"),
    "uri": (STRING, None),
    "subresource_uris": (OBJECT, None),
}
MESSAGE: dict[str, tuple[str, str | set[str] | None]] = {
    "body": (STRING, None),
    "num_segments": (STRING, None),
    "direction": (STRING, MESSAGE_DIRECTION),
    "from": (STRING, None),
    "to": (STRING, None),
    "date_updated": (DATE, None),
    "price": (STRING, None),
    "error_message": (STRING, None),
    "uri": (STRING, None),
    "account_sid": (STRING, r"^AC[0-9a-fA-F]{32}$"),
    "num_media": (STRING, None),
    "status": (STRING, MESSAGE_STATUS),
    "messaging_service_sid": (STRING, r"^MG[0-9a-fA-F]{32}$"),
    "sid": (STRING, r"^(SM|MM)[0-9a-fA-F]{32}$"),
    "date_sent": (DATE, None),
    "date_created": (DATE, None),
    "error_code": (INTEGER, None),
    "price_unit": (STRING, None),
    "api_version": (STRING, None),
    "subresource_uris": (OBJECT, None),
}
# The list envelope: the records' key and exactly these (ListCallResponse, ListMessageResponse).
ENVELOPE = {
    "end",
    "first_page_uri",
    "next_page_uri",
    "page",
    "page_size",
    "previous_page_uri",
    "start",
    "uri",
}
RFC_2822 = re.compile(r"^[A-Z][a-z]{2}, \d{2} [A-Z][a-z]{2} \d{4} \d{2}:\d{2}:\d{2} \+0000$")
ERROR_BODY = {"code", "message", "more_info", "status"}
NUMBERS = {
    "+8613800000001": {"calls": [{"answer": "human"}]},
    "+8613800000002": {"calls": [{"answer": "busy"}]},
    "+8613800000003": {"calls": [{"answer": "failed"}], "sms": [{"status": "failed"}]},
    "+8613800000004": {"calls": [{"answer": "human", "ring_seconds": 60}]},
    "+8613800000005": {"sms": [{"status": "undelivered"}]},
    "+14155550123": {"calls": [{"answer": "human"}]},
}
SETTLE = 1.0  # seconds until a price appears
SMS_ERRORS = [21408, 21610, 21612, 21614, 21635]
CALL_ERRORS = [21214, 21217]


def problems(resource: dict[str, Any], schema: dict[str, tuple[str, Any]]) -> list[str]:
    """How `resource` departs from the schema (empty if it conforms)."""
    found = []
    if set(resource) != set(schema):
        found.append(
            f"fields: extra {set(resource) - set(schema)}, missing {set(schema) - set(resource)}"
        )
    for name, (kind, rule) in schema.items():
        value = resource.get(name)
        if value is None:
            continue
        if kind == INTEGER:
            ok = isinstance(value, int) and not isinstance(value, bool)
        elif kind == OBJECT:
            ok = isinstance(value, dict)
        else:
            ok = isinstance(value, str)
        if ok and kind == DATE:
            ok = bool(RFC_2822.match(value)) and parsedate_to_datetime(value).tzinfo is not None
        if ok and isinstance(rule, str):
            ok = bool(re.match(rule, value))
        if ok and isinstance(rule, set):
            ok = value in rule
        if not ok:
            found.append(f"{name}={value!r} is not {kind} {rule or ''}".rstrip())
    return found


@pytest.fixture
async def sandbox() -> AsyncIterator[str]:
    scenario = Scenario.model_validate(
        {
            "numbers": NUMBERS
            | {
                f"+861390000{code}": {"create_error": {"code": code}}
                for code in SMS_ERRORS + CALL_ERRORS
            }
        }
    )
    config = sandbox_config(scenario=scenario)
    timing = config.timing.model_copy(update={"price_settle_seconds": SETTLE})
    config = config.model_copy(update={"timing": timing})
    async with serve_asgi(create_app(config)) as url:
        yield url


async def rest(sandbox: str, method: str, path: str, **kwargs: Any) -> httpx.Response:
    async with httpx.AsyncClient(base_url=sandbox, auth=(SID, TOKEN)) as http:
        return await http.request(method, f"/2010-04-01/Accounts/{SID}/{path}", **kwargs)


async def resource(sandbox: str, path: str) -> dict[str, Any]:
    response = await rest(sandbox, "GET", path)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def call(sandbox: str, to: str, **form: str) -> dict[str, Any]:
    form = {"To": to, "From": OURS, "Url": "http://127.0.0.1:9/v"} | form
    response = await rest(sandbox, "POST", "Calls.json", data=form)
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


async def text(sandbox: str, to: str, body: str = "hi") -> httpx.Response:
    return await rest(sandbox, "POST", "Messages.json", data={"To": to, "From": OURS, "Body": body})


async def until_status(sandbox: str, path: str, statuses: set[str]) -> dict[str, Any]:
    for _ in range(200):
        body = await resource(sandbox, path)
        if body["status"] in statuses:
            return body
        await asyncio.sleep(0.03)
    raise AssertionError(f"{path} never reached {statuses}: {body['status']}")


async def test_a_call_resource_matches_the_published_schema_through_its_life(sandbox: str) -> None:
    created = await call(sandbox, "+8613800000001", MachineDetection="Enable")
    path = f"Calls/{created['sid']}.json"
    assert problems(created, CALL) == []
    assert (created["status"], created["start_time"], created["duration"]) == ("queued", None, None)
    assert (created["price"], created["answered_by"], created["queue_time"]) == (None, None, "0")
    assert len(created["subresource_uris"]) == 9 and created["uri"].endswith(f"/{path}")
    completed = await until_status(sandbox, path, {"completed"})
    assert problems(completed, CALL) == []
    assert completed["duration"].isdigit() and completed["end_time"] is not None
    assert completed["answered_by"] == "human" and completed["price"] is None, "not settled yet"
    await asyncio.sleep(SETTLE + 0.2)
    settled = await resource(sandbox, path)
    assert Decimal(settled["price"]) < 0 and settled["price_unit"] == "USD"

    ringing = await call(sandbox, "+8613800000004")
    ringing = await until_status(sandbox, f"Calls/{ringing['sid']}.json", {"ringing"})
    assert problems(ringing, CALL) == [] and ringing["start_time"] is not None, "dialled"
    assert (ringing["duration"], ringing["end_time"]) == (None, None), "empty for ongoing calls"
    for to, status in [("+8613800000002", "busy"), ("+8613800000003", "failed")]:
        unanswered = await call(sandbox, to)
        ended = await until_status(sandbox, f"Calls/{unanswered['sid']}.json", {status})
        assert problems(ended, CALL) == []
        assert (ended["duration"], ended["end_time"], ended["price"]) == (None, None, None), status
    north_american = await call(sandbox, "+14155550123")
    assert (north_american["to_formatted"], north_american["from_formatted"]) == (
        "(415) 555-0123", "(415) 555-0000",
    )  # fmt: skip


async def test_a_message_resource_matches_the_published_schema_through_its_life(
    sandbox: str,
) -> None:
    response = await text(sandbox, "+8613800000010")
    created = response.json()
    assert response.status_code == 201 and problems(created, MESSAGE) == []
    assert (created["status"], created["price"], created["price_unit"]) == ("queued", None, None)
    assert (created["date_sent"], created["error_code"], created["num_media"]) == (None, None, "0")
    delivered = await until_status(sandbox, f"Messages/{created['sid']}.json", {"delivered"})
    assert problems(delivered, MESSAGE) == [] and delivered["date_sent"] is not None
    for to, status, code in [
        ("+8613800000005", "undelivered", 30003),
        ("+8613800000003", "failed", 30008),
    ]:
        sent = (await text(sandbox, to)).json()
        final = await until_status(sandbox, f"Messages/{sent['sid']}.json", {status})
        assert problems(final, MESSAGE) == []
        assert (final["error_code"], type(final["error_message"])) == (code, str)
    await asyncio.sleep(SETTLE + 0.2)
    assert (await resource(sandbox, f"Messages/{created['sid']}.json"))["price"] == "-0.0079"
    assert final["price"] is None and final["date_sent"] is None, "a failed message never went out"


SEGMENTS = [
    ("a" * 160, 1), ("a" * 161, 2), ("a" * 306, 2), ("a" * 307, 3),
    ("€" * 80, 1), ("€" * 81, 2),  # GSM-7 extension characters take two septets
    ("退" * 70, 1), ("退" * 71, 2), ("退" * 134, 2), ("退" * 135, 3),
    ("a" * 69 + "退", 1), ("a" * 159 + "退", 3),  # one character outside GSM-7: all UCS-2
    ("😀" * 35, 1), ("😀" * 36, 2),  # outside the BMP: two UTF-16 units each
]  # fmt: skip


async def test_num_segments_and_the_price_count_as_twilio_counts(sandbox: str) -> None:
    created = [(await text(sandbox, "+8613800000010", body)).json() for body, _ in SEGMENTS]
    assert [m["num_segments"] for m in created] == [str(n) for _, n in SEGMENTS]
    for message in created:
        await until_status(sandbox, f"Messages/{message['sid']}.json", {"delivered"})
    await asyncio.sleep(SETTLE + 0.2)
    for message, (_, segments) in zip(created, SEGMENTS, strict=True):
        price = (await resource(sandbox, f"Messages/{message['sid']}.json"))["price"]
        assert Decimal(price) == Decimal("-0.0079") * segments, message["body"][:10]


async def test_lists_filter_and_page_as_twilio_python_reads_them(sandbox: str) -> None:
    client = twilio_client(sandbox)
    sids = [(await call(sandbox, "+8613800000002"))["sid"] for _ in range(3)]
    await call(sandbox, "+8613800000001")
    for sid in sids:
        await until_status(sandbox, f"Calls/{sid}.json", {"busy"})
    yesterday, tomorrow = (
        datetime.now(UTC) - timedelta(days=1),
        datetime.now(UTC) + timedelta(days=1),
    )
    listed = await asyncio.to_thread(
        client.calls.list, to="+8613800000002", start_time_after=yesterday
    )
    assert [c.sid for c in listed] == sids[::-1], "newest first"
    paged = await asyncio.to_thread(client.calls.list, to="+8613800000002", page_size=2)
    assert [c.sid for c in paged] == sids[::-1], "followed next_page_uri"
    assert (
        await asyncio.to_thread(client.calls.list, to="+8613800000002", start_time_before=yesterday)
        == []
    )
    assert (
        len(await asyncio.to_thread(client.calls.list, status="busy", start_time=datetime.now(UTC)))
        == 3
    )
    first = (
        await rest(sandbox, "GET", "Calls.json", params={"To": "+8613800000002", "PageSize": 2})
    ).json()
    assert set(first) == ENVELOPE | {"calls"} and (
        first["page"],
        first["page_size"],
        first["end"],
    ) == (0, 2, 1)
    assert first["previous_page_uri"] is None and "PageToken=PA" in first["next_page_uri"]
    async with httpx.AsyncClient(base_url=sandbox, auth=(SID, TOKEN)) as http:
        second = (await http.get(first["next_page_uri"])).json()
    assert ([c["sid"] for c in second["calls"]], second["page"], second["start"]) == (
        [sids[0]],
        1,
        2,
    )
    assert second["next_page_uri"] is None and "PageToken=PB" in second["previous_page_uri"]
    too_big = await rest(sandbox, "GET", "Calls.json", params={"PageSize": 1001})
    assert (too_big.status_code, too_big.json()["code"]) == (400, 20007)
    with pytest.raises(TwilioException):  # a plain TwilioException for a page, as twilio-python
        await asyncio.to_thread(client.calls.list, page_size=1001)

    sent = await asyncio.to_thread(
        client.messages.create, to="+8613800000010", from_=OURS, body="x"
    )
    failed = await asyncio.to_thread(
        client.messages.create, to="+8613800000003", from_=OURS, body="x"
    )
    await until_status(sandbox, f"Messages/{failed.sid}.json", {"failed"})
    await until_status(sandbox, f"Messages/{sent.sid}.json", {"delivered"})
    after = await asyncio.to_thread(client.messages.list, date_sent_after=yesterday)
    assert [m.sid for m in after] == [sent.sid], "a message never sent has no date_sent"
    assert (
        await asyncio.to_thread(
            client.messages.list, date_sent_before=tomorrow, to="+8613800000003"
        )
        == []
    )
    envelope = (await rest(sandbox, "GET", "Messages.json", params={"To": "+8613800000010"})).json()
    assert set(envelope) == ENVELOPE | {"messages"} and envelope["page_size"] == 50


@pytest.mark.parametrize("code", SMS_ERRORS)
async def test_sms_create_errors_refuse_messages_only(sandbox: str, code: int) -> None:
    to = f"+861390000{code}"
    refused = await rest(
        sandbox, "POST", "Messages.json", data={"To": to, "From": OURS, "Body": "x"}
    )
    assert (refused.status_code, set(refused.json())) == (400, ERROR_BODY)
    assert refused.json()["code"] == code and refused.json()["more_info"].endswith(str(code))
    assert (await call(sandbox, to))["status"] == "queued", "Twilio never refuses a call with it"


@pytest.mark.parametrize("code", CALL_ERRORS)
async def test_call_create_errors_refuse_calls_only(sandbox: str, code: int) -> None:
    to = f"+861390000{code}"
    client = twilio_client(sandbox)
    with pytest.raises(TwilioRestException) as refused:
        await asyncio.to_thread(client.calls.create, to=to, from_=OURS, url="http://127.0.0.1:9/v")
    assert type(refused.value) is TwilioRestException, "not TwilioServiceException (RFC 9457)"
    assert (refused.value.status, refused.value.code) == (400, code)
    sms = await text(sandbox, to)
    assert sms.status_code == 201


async def test_call_create_validation_codes(sandbox: str) -> None:
    base = {"To": "+8613800000001", "From": OURS, "Url": "http://127.0.0.1:9/v"}
    for change, code in [
        ({"To": "12345"}, 21211), ({"Timeout": "soon"}, 21208), ({"Url": "ftp://x"}, 21205),
        ({"StatusCallbackEvent": "answerd"}, 21626), ({"MachineDetection": "Maybe"}, 21234),
        ({"MachineDetection": "Enable", "MachineDetectionSpeechThreshold": "100"}, 21234),
        ({"Method": "PUT"}, 21209),
    ]:  # fmt: skip
        refused = await rest(sandbox, "POST", "Calls.json", data=base | change)
        assert (refused.status_code, refused.json()["code"], set(refused.json())) == (
            400, code, ERROR_BODY,
        ), change  # fmt: skip
