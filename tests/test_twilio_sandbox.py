"""The sandbox speaks Twilio's contract over real HTTP: the official client works against it,
every webhook is signed and retried, scripted numbers behave as scripted."""

from __future__ import annotations

import asyncio
import sys
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI, Request, Response
from twilio.base.exceptions import TwilioRestException
from twilio.http.async_http_client import AsyncTwilioHttpClient
from twilio.request_validator import RequestValidator
from twilio.rest import Client

from tests.harness.http_server import free_port, serve_asgi
from twilio_sandbox import (
    CallbackPolicy,
    SandboxConfig,
    ScenarioError,
    Timing,
    create_app,
    load_scenario,
)

SID = "AC" + "5a" * 16
TOKEN = "sandbox-test-token-0001"
OURS = "+14155550000"
SCENARIO = """
default:
  sms: [{status: delivered}]
  calls: [{answer: no-answer}]
numbers:
  "+8613800000001":
    calls: [{answer: human, digits: ["1"]}]
  "+8613800000002":
    calls:
      - {answer: busy}
      - {answer: no-answer}
      - {answer: human, digits: [""]}
      - {answer: machine}
  "+8613800000003":
    sms: [{status: undelivered, error_code: 30003}]
  "+8613800000004":
    create_error: {code: 21211, message: "The 'To' number is not a valid phone number."}
"""
VOICE = (
    '<Response><Gather input="dtmf" numDigits="1" action="gather?step=1" timeout="3">'
    "<Say>Press 1 to handle the refund.</Say></Gather>"
    "<Say>We did not hear you.</Say><Hangup/></Response>"
)


@dataclass(frozen=True)
class Hit:
    path: str
    url: str
    form: dict[str, str]
    signed: bool
    answered: int


@dataclass
class Receiver:
    """Our side of the webhooks: checks each signature as the API does, serves TwiML."""

    hits: list[Hit] = field(default_factory=list)
    failures: dict[str, int] = field(default_factory=dict)  # path -> 500s to answer first

    def app(self) -> FastAPI:
        app = FastAPI()
        validator = RequestValidator(TOKEN)

        @app.post("/{path:path}")
        async def hook(path: str, request: Request) -> Response:
            form = {key: str(value) for key, value in (await request.form()).items()}
            url = str(request.url)
            signed = validator.validate(url, form, request.headers.get("x-twilio-signature", ""))
            response = self._answer(path)
            self.hits.append(Hit(path, url, form, signed, response.status_code))
            return response

        return app

    def _answer(self, path: str) -> Response:
        if self.failures.get(path, 0) > 0:
            self.failures[path] -= 1
            return Response(status_code=500)
        xml = "application/xml"
        if path == "voice":
            return Response(VOICE, media_type=xml)
        if path == "gather":
            return Response("<Response><Say>Thank you.</Say><Hangup/></Response>", media_type=xml)
        if path == "sms-in":
            return Response("<Response><Message>Got it.</Message></Response>", media_type=xml)
        return Response(status_code=204)

    def on(self, path: str, sid: str | None = None) -> list[Hit]:
        """Requests to `path`, about one message or call if `sid` is given."""
        return [
            hit
            for hit in self.hits
            if hit.path == path
            and (sid is None or sid in (hit.form.get("MessageSid"), hit.form.get("CallSid")))
        ]

    def statuses(self, path: str, sid: str) -> list[str]:
        return [
            hit.form.get("MessageStatus") or hit.form.get("CallStatus", "")
            for hit in self.on(path, sid)
            if hit.answered < 500
        ]


@pytest.fixture
def scenario_file(tmp_path: Path) -> Path:
    path = tmp_path / "scenario.yaml"
    path.write_text(SCENARIO, encoding="utf-8")
    return path


def _config(scenario_file: Path, **overrides: Any) -> SandboxConfig:
    timing = Timing(
        dial_seconds=0.01, ring_seconds=0.05, sms_sent_seconds=0.02, sms_delivery_seconds=0.05
    )
    return SandboxConfig(
        account_sid=SID,
        auth_token=TOKEN,
        scenario=load_scenario(scenario_file),
        timing=timing,
        callbacks=CallbackPolicy(attempts=5, backoff_seconds=0.05),
        **overrides,
    )


@pytest.fixture
async def receiver() -> AsyncIterator[tuple[Receiver, str]]:
    receiver = Receiver()
    async with serve_asgi(receiver.app()) as url:
        yield receiver, url


@pytest.fixture
async def sandbox(scenario_file: Path, receiver: tuple[Receiver, str]) -> AsyncIterator[str]:
    config = _config(scenario_file, inbound_sms_url=f"{receiver[1]}/sms-in")
    async with serve_asgi(create_app(config)) as url:
        yield url


@pytest.fixture
def client(sandbox: str) -> Client:
    client = Client(SID, TOKEN)
    client.api.base_url = sandbox
    return client


async def eventually(condition: Callable[[], bool], timeout: float = 5) -> None:
    end = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > end:
            raise AssertionError(f"not true within {timeout} s")
        await asyncio.sleep(0.02)


async def sandbox_log(sandbox: str, **filters: str) -> list[dict[str, Any]]:
    async with httpx.AsyncClient(base_url=sandbox) as http:
        response = await http.get("/sandbox/log", params=filters)
    response.raise_for_status()
    events: list[dict[str, Any]] = response.json()
    return events


async def test_sms_statuses_arrive_signed_in_order_and_update_the_message(
    sandbox: str, client: Client, receiver: tuple[Receiver, str]
) -> None:
    hooks, base = receiver
    callback = f"{base}/status/sms?key=R-1%3Asms_reminder&n=1"
    message = await asyncio.to_thread(
        client.messages.create, to="+8613800000010", from_=OURS, body="退款提醒 R-1",
        status_callback=callback,
    )  # fmt: skip
    assert message.sid.startswith("SM") and len(message.sid) == 34
    assert (message.status, message.direction, message.to) == (
        "queued",
        "outbound-api",
        "+8613800000010",
    )
    assert message.price is None and message.api_version == "2010-04-01"
    assert message.date_created is not None
    await eventually(lambda: len(hooks.statuses("status/sms", message.sid)) == 2)
    assert hooks.statuses("status/sms", message.sid) == ["sent", "delivered"]
    for hit in hooks.on("status/sms"):
        assert hit.signed, hit
        assert hit.url == callback, "the query string must reach us intact"
        assert hit.form["SmsSid"] == message.sid and hit.form["AccountSid"] == SID
        assert (hit.form["From"], hit.form["To"], hit.form["ApiVersion"]) == (
            OURS, "+8613800000010", "2010-04-01",
        )  # fmt: skip
    fetched = await asyncio.to_thread(client.messages(message.sid).fetch)
    assert (fetched.status, fetched.price, fetched.error_code) == ("delivered", "-0.0079", None)
    listed = await asyncio.to_thread(client.messages.list, to="+8613800000010")
    assert [m.sid for m in listed] == [message.sid]
    created = await sandbox_log(sandbox, sid=message.sid, kind="message.created")
    assert created[0]["to"] == "+8613800000010"
    assert created[0]["status_callback"] == callback


async def test_undelivered_sms_reports_its_carrier_error(
    client: Client, receiver: tuple[Receiver, str]
) -> None:
    hooks, base = receiver
    message = await asyncio.to_thread(
        client.messages.create, to="+8613800000003", from_=OURS, body="hi",
        status_callback=f"{base}/status/sms",
    )  # fmt: skip
    await eventually(lambda: "undelivered" in hooks.statuses("status/sms", message.sid))
    assert hooks.statuses("status/sms", message.sid) == ["sent", "undelivered"]
    final = hooks.on("status/sms", message.sid)[-1]
    assert final.form["ErrorCode"] == "30003" and final.signed
    fetched = await asyncio.to_thread(client.messages(message.sid).fetch)
    assert (fetched.status, fetched.error_code) == ("undelivered", 30003)


async def test_answered_call_plays_twiml_and_posts_the_digits_to_the_gather_action(
    sandbox: str, receiver: tuple[Receiver, str]
) -> None:
    hooks, base = receiver
    http = AsyncTwilioHttpClient()  # the notifier's transport
    client = Client(SID, TOKEN, http_client=http)
    client.api.base_url = sandbox
    try:
        call = await client.calls.create_async(
            to="+8613800000001", from_=OURS, url=f"{base}/voice?key=R-2", method="POST",
            status_callback=f"{base}/status/call?key=R-2", status_callback_method="POST",
            status_callback_event=["initiated", "ringing", "answered", "completed"],
            machine_detection="Enable", timeout=20,
        )  # fmt: skip
        assert call.sid.startswith("CA") and call.status == "queued"
        await eventually(lambda: "completed" in hooks.statuses("status/call", call.sid))
        fetched = await client.calls(call.sid).fetch_async()
    finally:
        await http.close()
    assert hooks.statuses("status/call", call.sid) == [
        "initiated", "ringing", "in-progress", "completed",
    ]  # fmt: skip
    progress = hooks.on("status/call", call.sid)
    assert [hit.form["SequenceNumber"] for hit in progress] == ["0", "1", "2", "3"]
    assert all(hit.signed for hit in hooks.hits), hooks.hits
    voice = hooks.on("voice", call.sid)[0]
    assert voice.url == f"{base}/voice?key=R-2"
    assert (voice.form["CallStatus"], voice.form["AnsweredBy"]) == ("in-progress", "human")
    assert voice.form["Direction"] == "outbound-api" and voice.form["To"] == "+8613800000001"
    gather = hooks.on("gather", call.sid)
    assert len(gather) == 1 and gather[0].form["Digits"] == "1"
    assert gather[0].url == f"{base}/gather?step=1", "relative action resolves against the page"
    completed = progress[-1].form
    assert int(completed["CallDuration"]) >= 1 and completed["AnsweredBy"] == "human"
    assert fetched.status == "completed" and fetched.answered_by == "human"
    assert fetched.price == "-0.0130" and int(fetched.duration) == int(completed["CallDuration"])
    says = [e["text"] for e in await sandbox_log(sandbox, sid=call.sid, kind="say")]
    assert says == ["Press 1 to handle the refund.", "Thank you."]
    pressed = await sandbox_log(sandbox, sid=call.sid, kind="gather")
    assert [e["digits"] for e in pressed] == ["1"]


async def test_successive_calls_take_successive_outcomes(
    sandbox: str, client: Client, receiver: tuple[Receiver, str]
) -> None:
    hooks, base = receiver
    sids = []
    for _ in range(4):  # busy, no-answer, picks up but presses nothing, voicemail
        call = await asyncio.to_thread(
            client.calls.create, to="+8613800000002", from_=OURS, url=f"{base}/voice",
            status_callback=f"{base}/status/call", machine_detection="Enable",
        )  # fmt: skip
        sids.append(call.sid)
    finals = ["busy", "no-answer", "completed", "completed"]
    await eventually(lambda: all(hooks.statuses("status/call", sid) for sid in sids))
    for sid, final in zip(sids, finals, strict=True):
        assert hooks.statuses("status/call", sid) == [final], "only `completed` was asked for"
    busy, no_answer, silent, machine = sids
    assert not hooks.on("voice", busy) and not hooks.on("voice", no_answer), "nobody picked up"
    assert hooks.on("status/call", busy)[0].form["CallDuration"] == "0"
    assert hooks.on("voice", silent)[0].form["AnsweredBy"] == "human"
    assert not hooks.on("gather", silent), "nothing pressed: the action is not called"
    says = [e["text"] for e in await sandbox_log(sandbox, sid=silent, kind="say")]
    assert says == ["Press 1 to handle the refund.", "We did not hear you."]
    assert hooks.on("voice", machine)[0].form["AnsweredBy"] == "machine_start"
    assert not hooks.on("gather", machine)
    fetched = await asyncio.to_thread(client.calls(busy).fetch)
    assert (fetched.status, fetched.duration, fetched.price) == ("busy", "0", None)


async def test_refusals_are_twilio_errors_in_the_client(sandbox: str, client: Client) -> None:
    with pytest.raises(TwilioRestException) as refused:
        await asyncio.to_thread(client.messages.create, to="+8613800000004", from_=OURS, body="x")
    assert (refused.value.status, refused.value.code) == (400, 21211)
    assert "not a valid phone number" in refused.value.msg
    with pytest.raises(TwilioRestException) as refused:
        await asyncio.to_thread(
            client.calls.create, to="+8613800000004", from_=OURS, url="http://127.0.0.1/v"
        )
    assert refused.value.code == 21211
    with pytest.raises(TwilioRestException) as missing:
        await asyncio.to_thread(client.messages("SM" + "0" * 32).fetch)
    assert (missing.value.status, missing.value.code) == (404, 20404)
    messages = f"/2010-04-01/Accounts/{SID}/Messages.json"
    async with httpx.AsyncClient(base_url=sandbox, auth=(SID, TOKEN)) as http:
        no_to = await http.post(messages, data={"From": OURS, "Body": "x"})
        no_body = await http.post(messages, data={"To": "+8613800000010", "From": OURS})
    assert (no_to.status_code, no_to.json()["code"]) == (400, 21604)
    assert (no_body.status_code, no_body.json()["code"]) == (400, 21602)
    assert no_body.json()["more_info"] == "https://www.twilio.com/docs/errors/21602"
    call = f"/2010-04-01/Accounts/{SID}/Calls/CA{'0' * 32}.json"
    async with httpx.AsyncClient(base_url=sandbox, auth=(SID, TOKEN)) as http:
        hang_up = await http.post(call, data={"Status": "completed"})
    assert (hang_up.status_code, hang_up.json()["code"]) == (405, 20004), "not imitated"
    log = await sandbox_log(sandbox, kind="message.rejected")
    assert log[0]["code"] == 21211 and log[0]["to"] == "+8613800000004"


async def test_wrong_or_missing_credentials_are_401(sandbox: str) -> None:
    expected = {
        "code": 20003,
        "message": "Authenticate",
        "more_info": "https://www.twilio.com/docs/errors/20003",
        "status": 401,
    }
    path = f"/2010-04-01/Accounts/{SID}/Calls.json"
    other = f"/2010-04-01/Accounts/AC{'0' * 32}/Calls.json"
    async with httpx.AsyncClient(base_url=sandbox) as http:
        wrong, right = httpx.BasicAuth(SID, "wrong"), httpx.BasicAuth(SID, TOKEN)
        for auth, url in [(wrong, path), (httpx.Auth(), path), (right, other)]:
            response = await http.post(url, data={"To": "+8613800000010"}, auth=auth)
            assert response.status_code == 401, (auth, url)
            assert response.json() == expected
        assert not (await http.get("/sandbox/calls")).json(), "nothing was created"
    wrong = Client(SID, "not-the-token")
    wrong.api.base_url = sandbox
    with pytest.raises(TwilioRestException) as refused:
        await asyncio.to_thread(wrong.messages.create, to="+8613800000010", from_=OURS, body="x")
    assert (refused.value.status, refused.value.code) == (401, 20003)


async def test_callback_is_retried_when_our_side_answers_500(
    sandbox: str, client: Client, receiver: tuple[Receiver, str]
) -> None:
    hooks, base = receiver
    hooks.failures["status/sms"] = 2
    message = await asyncio.to_thread(
        client.messages.create, to="+8613800000010", from_=OURS, body="hi",
        status_callback=f"{base}/status/sms",
    )  # fmt: skip
    await eventually(lambda: "delivered" in hooks.statuses("status/sms", message.sid))
    answers = [(h.form["MessageStatus"], h.answered) for h in hooks.on("status/sms")]
    assert answers == [("sent", 500), ("sent", 500), ("sent", 204), ("delivered", 204)]
    attempts = await sandbox_log(sandbox, sid=message.sid, kind="callback")
    assert [(e["status"], e["attempt"], e["http_status"]) for e in attempts] == [
        ("sent", 1, 500), ("sent", 2, 500), ("sent", 3, 204), ("delivered", 1, 204),
    ]  # fmt: skip


async def test_callback_is_retried_until_our_side_comes_up(sandbox: str, client: Client) -> None:
    port = free_port()
    hooks = Receiver()
    message = await asyncio.to_thread(
        client.messages.create, to="+8613800000010", from_=OURS, body="hi",
        status_callback=f"http://127.0.0.1:{port}/status/sms",
    )  # fmt: skip

    async def refused_once() -> bool:
        return any(e.get("error") for e in await sandbox_log(sandbox, sid=message.sid))

    end = time.monotonic() + 5
    while not await refused_once():
        assert time.monotonic() < end, "no failed delivery attempt logged"
        await asyncio.sleep(0.02)
    async with serve_asgi(hooks.app(), port=port):
        await eventually(lambda: "delivered" in hooks.statuses("status/sms", message.sid))
    assert hooks.statuses("status/sms", message.sid) == ["sent", "delivered"]


async def test_inbound_sms_is_posted_signed_and_stop_blocks_later_sends(
    sandbox: str, client: Client, receiver: tuple[Receiver, str]
) -> None:
    hooks, _ = receiver
    async with httpx.AsyncClient(base_url=sandbox) as http:
        answer = await http.post(
            "/sandbox/inbound-sms", json={"from": "+8613800000020", "to": OURS, "body": "1"}
        )
        assert answer.status_code == 200, answer.text
        assert answer.json()["status_code"] == 200
        assert answer.json()["replies"] == ["Got it."]
        assert "<Message>Got it.</Message>" in answer.json()["body"]
        stop = await http.post(
            "/sandbox/inbound-sms", json={"from": "+8613800000020", "to": OURS, "body": "STOP"}
        )
        assert stop.status_code == 200
        bad = await http.post("/sandbox/inbound-sms", json={"from": "123", "to": OURS, "body": ""})
        assert bad.status_code == 422 and "E.164" in bad.text
    first = hooks.on("sms-in")[0]
    assert first.signed
    assert (first.form["From"], first.form["To"], first.form["Body"]) == (
        "+8613800000020",
        OURS,
        "1",
    )
    assert first.form["NumMedia"] == "0" and first.form["MessageSid"].startswith("SM")
    with pytest.raises(TwilioRestException) as refused:
        await asyncio.to_thread(client.messages.create, to="+8613800000020", from_=OURS, body="x")
    assert refused.value.code == 21610


async def test_numbers_can_be_rescripted_at_run_time(
    sandbox: str, client: Client, receiver: tuple[Receiver, str]
) -> None:
    hooks, base = receiver
    phone = "+8613900000077"
    async with httpx.AsyncClient(base_url=sandbox) as http:
        bad = await http.put(f"/sandbox/numbers/{phone}", json={"calls": [{"answer": "maybe"}]})
        assert bad.status_code == 422 and "answer" in bad.text
        good = await http.put(
            f"/sandbox/numbers/{phone}", json={"sms": [{"status": "failed", "error_code": 30008}]}
        )
        assert good.status_code == 200
    message = await asyncio.to_thread(
        client.messages.create, to=phone, from_=OURS, body="hi", status_callback=f"{base}/s"
    )
    await eventually(lambda: bool(hooks.statuses("s", message.sid)))
    assert hooks.statuses("s", message.sid) == ["failed"], "a failed message is never sent"
    assert hooks.on("s")[0].form["ErrorCode"] == "30008"


def test_scenario_files_are_checked_with_a_reason(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text('numbers:\n  "+8613800000002":\n    calls: [{answer: perhaps}]\n')
    with pytest.raises(ScenarioError, match=r"numbers\.\+8613800000002\.calls\.0\.answer"):
        load_scenario(bad)
    bad.write_text("numbers:\n  +8613800000002: {calls: [{answer: busy}]}\n")
    with pytest.raises(ScenarioError, match="quote phone numbers"):
        load_scenario(bad)
    bad.write_text('numbers:\n  "+8613800000002": {calls: [{answer: busy, digits: ["1"]}]}\n')
    with pytest.raises(ScenarioError, match="digits are pressed by a human"):
        load_scenario(bad)
    with pytest.raises(ScenarioError, match="cannot read"):
        load_scenario(tmp_path / "missing.yaml")


async def test_shutdown_cancels_calls_still_ringing(scenario_file: Path) -> None:
    config = _config(scenario_file).model_copy(update={"timing": Timing(ring_seconds=60)})
    started = time.monotonic()
    async with serve_asgi(create_app(config)) as url:
        client = Client(SID, TOKEN)
        client.api.base_url = url
        await asyncio.to_thread(
            client.calls.create, to="+8613800000001", from_=OURS, url="http://127.0.0.1:9/v"
        )
    assert time.monotonic() - started < 5, "a ringing call must not hold up shutdown"


async def test_command_line_explains_a_bad_scenario(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("default: {calls: [{answer: later}]}\n")
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "twilio_sandbox", "--account-sid", SID, "--auth-token", TOKEN,
        "--scenario", str(bad), "--port", str(free_port()),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    _, stderr = await asyncio.wait_for(process.communicate(), timeout=20)
    assert process.returncode == 2
    assert "default.calls.0.answer" in stderr.decode()
    assert "Traceback" not in stderr.decode()


async def test_reset_forgets_everything_and_restores_the_scenario(
    sandbox: str, client: Client
) -> None:
    phone = "+8613800000003"  # undelivered in the scenario file
    async with httpx.AsyncClient(base_url=sandbox) as http:
        await http.put(f"/sandbox/numbers/{phone}", json={"sms": [{"status": "delivered"}]})
        await asyncio.to_thread(client.messages.create, to=phone, from_=OURS, body="x")
        assert (await http.get("/sandbox/messages")).json()
        assert (await http.post("/sandbox/reset")).status_code == 204
        assert (await http.get("/sandbox/messages")).json() == []
        assert (await http.get("/sandbox/log")).json() == []
        number = (await http.get(f"/sandbox/numbers/{phone}")).json()
    assert number["behaviour"]["sms"][0]["status"] == "undelivered"
