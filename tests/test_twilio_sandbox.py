"""The sandbox behaves as Twilio does, over real HTTP, with the official client: signed webhooks
tried once, voices Twilio lists, both AMD modes and voicemail, call updates, callback faults on
demand, auth-token rotation, opt-out keywords. Each test names the Twilio fact it holds the
sandbox to (docs/twilio-sandbox.md has the references)."""

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
from twilio_sandbox import SandboxConfig, ScenarioError, Timing, create_app, load_scenario

SID = "AC" + "5a" * 16
TOKEN = "sandbox-test-token-0001"
NEW_TOKEN = "sandbox-test-token-0002"
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
      - {answer: fax}
  "+8613800000003":
    sms: [{status: undelivered, error_code: 30003}]
  "+8613800000004":
    create_error: {code: 21211, message: "The 'To' number is not a valid phone number."}
"""
PROMPT = "Press 1 to handle the refund."
VOICE = (
    '<Response><Gather input="dtmf" numDigits="1" action="gather?step=1" timeout="3">'
    f'<Say voice="Polly.Joanna" language="en-US">{PROMPT}</Say></Gather>'
    "<Say>We did not hear you.</Say><Hangup/></Response>"
)
# The first prompt is Mandarin in the default voice (man): Twilio lists no such pair.
MANDARIN = (
    '<Response><Gather numDigits="1" action="gather" timeout="2">'
    '<Say language="zh-CN">请按1处理退款。</Say></Gather>'
    '<Gather numDigits="1" action="gather" timeout="2">'
    '<Say voice="Polly.Zhiyu-Neural" language="cmn-CN">请按1处理退款。</Say></Gather></Response>'
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

    token: str = TOKEN
    hits: list[Hit] = field(default_factory=list)
    failures: dict[str, int] = field(default_factory=dict)  # path -> 500s to answer first
    twiml: dict[str, str] = field(default_factory=lambda: {"voice": VOICE})

    def app(self) -> FastAPI:
        app = FastAPI()

        @app.post("/{path:path}")
        async def hook(path: str, request: Request) -> Response:
            form = {key: str(value) for key, value in (await request.form()).items()}
            url = str(request.url)
            signature = request.headers.get("x-twilio-signature", "")
            signed = RequestValidator(self.token).validate(url, form, signature)
            response = self._answer(path)
            self.hits.append(Hit(path, url, form, signed, response.status_code))
            return response

        return app

    def _answer(self, path: str) -> Response:
        if self.failures.get(path, 0) > 0:
            self.failures[path] -= 1
            return Response(status_code=500)
        xml = "application/xml"
        if path in self.twiml:
            return Response(self.twiml[path], media_type=xml)
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


def sandbox_config(scenario_file: Path | None = None, **overrides: Any) -> SandboxConfig:
    timing = Timing(
        dial_seconds=0.01, ring_seconds=0.05, sms_sent_seconds=0.02, sms_delivery_seconds=0.05,
        price_settle_seconds=0.3,
    )  # fmt: skip
    settings: dict[str, Any] = {
        "account_sid": SID,
        "auth_token": TOKEN,
        "timing": timing,
        "calls_per_second": 0,  # kinder than Twilio: these tests are not about the CPS
    }
    if scenario_file is not None:
        settings["scenario"] = load_scenario(scenario_file)
    return SandboxConfig(**(settings | overrides))


@pytest.fixture
async def receiver() -> AsyncIterator[tuple[Receiver, str]]:
    receiver = Receiver()
    async with serve_asgi(receiver.app()) as url:
        yield receiver, url


@pytest.fixture
async def sandbox(scenario_file: Path, receiver: tuple[Receiver, str]) -> AsyncIterator[str]:
    config = sandbox_config(scenario_file, inbound_sms_url=f"{receiver[1]}/sms-in")
    async with serve_asgi(create_app(config)) as url:
        yield url


@pytest.fixture
def client(sandbox: str) -> Client:
    return twilio_client(sandbox)


def twilio_client(base_url: str, token: str = TOKEN) -> Client:
    client = Client(SID, token)
    client.api.base_url = base_url
    return client


async def eventually(condition: Callable[[], bool], timeout: float = 5) -> None:
    end = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > end:
            raise AssertionError(f"not true within {timeout} s")
        await asyncio.sleep(0.02)


async def fetched_message(client: Client, sid: str) -> Any:
    return await asyncio.to_thread(client.messages(sid).fetch)


async def until(condition: Callable[[], Any], timeout: float = 5) -> None:
    """As `eventually`, for a condition that has to be awaited."""
    end = time.monotonic() + timeout
    while not await condition():
        if time.monotonic() > end:
            raise AssertionError(f"not true within {timeout} s")
        await asyncio.sleep(0.05)


async def sandbox_log(sandbox: str, **filters: str) -> list[dict[str, Any]]:
    async with httpx.AsyncClient(base_url=sandbox) as http:
        response = await http.get("/sandbox/log", params=filters)
    response.raise_for_status()
    events: list[dict[str, Any]] = response.json()
    return events


async def control(sandbox: str, method: str, path: str, **kwargs: Any) -> httpx.Response:
    async with httpx.AsyncClient(base_url=sandbox) as http:
        return await http.request(method, path, **kwargs)


async def place(client: Client, to: str, base: str, **params: Any) -> str:
    call = await asyncio.to_thread(
        client.calls.create, to=to, from_=OURS, url=f"{base}/voice",
        status_callback=f"{base}/status/call", **params,
    )  # fmt: skip
    return str(call.sid)


async def ended(hooks: Receiver, sid: str, timeout: float = 10) -> None:
    finals = {"completed", "busy", "no-answer", "failed", "canceled"}
    await eventually(lambda: bool(finals & set(hooks.statuses("status/call", sid))), timeout)


# ------------------------------------------------------------------------------ SMS
async def test_sms_statuses_arrive_signed_once_in_order_and_the_price_settles_later(
    sandbox: str, client: Client, receiver: tuple[Receiver, str]
) -> None:
    hooks, base = receiver
    callback = f"{base}/status/sms?key=R-1%3Asms_reminder&n=1"
    message = await asyncio.to_thread(
        client.messages.create, to="+8613800000010", from_=OURS, body="退款提醒 R-1",
        status_callback=callback,
    )  # fmt: skip
    assert (message.status, message.price, message.price_unit) == ("queued", None, None)
    await eventually(lambda: len(hooks.statuses("status/sms", message.sid)) == 2)
    assert hooks.statuses("status/sms", message.sid) == ["sent", "delivered"], "no queued"
    for hit in hooks.on("status/sms"):
        assert hit.signed and hit.url == callback, "signed, the query string intact"
        assert hit.form["SmsSid"] == message.sid and hit.form["AccountSid"] == SID
    assert len(hooks.on("status/sms")[-1].form["RawDlrDoneDate"]) == 10  # YYMMDDhhmm
    fetched = await asyncio.to_thread(client.messages(message.sid).fetch)
    assert (fetched.status, fetched.error_code) == ("delivered", None)

    async def priced() -> bool:
        return (await fetched_message(client, message.sid)).price is not None

    await until(priced)
    assert (await fetched_message(client, message.sid)).price == "-0.0079"
    created = await sandbox_log(sandbox, sid=message.sid, kind="message.created")
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
    assert hooks.on("status/sms", message.sid)[-1].form["ErrorCode"] == "30003"
    fetched = await asyncio.to_thread(client.messages(message.sid).fetch)
    assert (fetched.status, fetched.error_code) == ("undelivered", 30003)


# ------------------------------------------------------------------------------ calls
async def test_answered_call_plays_twiml_and_answered_by_goes_only_with_the_twiml_request(
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
        await ended(hooks, call.sid)
        fetched = await client.calls(call.sid).fetch_async()
    finally:
        await http.close()
    assert hooks.statuses("status/call", call.sid) == [
        "initiated", "ringing", "in-progress", "completed",
    ]  # fmt: skip
    progress = hooks.on("status/call", call.sid)
    assert [hit.form["SequenceNumber"] for hit in progress] == ["0", "1", "2", "3"]
    assert not [hit for hit in progress if "AnsweredBy" in hit.form], "not a callback field"
    assert all(hit.signed for hit in hooks.hits), hooks.hits
    voice = hooks.on("voice", call.sid)[0]
    assert voice.url == f"{base}/voice?key=R-2"
    assert (voice.form["CallStatus"], voice.form["AnsweredBy"]) == ("in-progress", "human")
    gather = hooks.on("gather", call.sid)
    assert len(gather) == 1 and gather[0].form["Digits"] == "1"
    assert gather[0].url == f"{base}/gather?step=1", "relative action resolves against the page"
    assert "AnsweredBy" not in gather[0].form, "only the first TwiML request carries it"
    assert (fetched.status, fetched.answered_by) == ("completed", "human")
    assert int(fetched.duration) == int(progress[-1].form["CallDuration"]) >= 1
    says = await sandbox_log(sandbox, sid=call.sid, kind="say")
    assert [(e["text"], e["voice"]) for e in says] == [
        (PROMPT, "Polly.Joanna"),
        ("Thank you.", "man"),
    ]


async def test_a_voice_that_does_not_speak_the_language_is_not_heard_and_gets_no_answer(
    sandbox: str, client: Client, receiver: tuple[Receiver, str]
) -> None:
    """<Say language="zh-CN"> in the default voice (man, which has no Mandarin) is not spoken:
    the merchant hears nothing and presses nothing; the digits wait for a prompt it hears."""
    hooks, base = receiver
    hooks.twiml["voice"] = MANDARIN
    sid = await place(client, "+8613800000001", base)
    await ended(hooks, sid)
    unsupported = await sandbox_log(sandbox, sid=sid, kind="say.unsupported")
    assert [(e["voice"], e["language"], e["code"]) for e in unsupported] == [
        ("man", "zh-CN", 13511)
    ]
    spoken = await sandbox_log(sandbox, sid=sid, kind="say")
    assert [(e["voice"], e["language"]) for e in spoken[:1]] == [("Polly.Zhiyu-Neural", "cmn-CN")]
    pressed = await sandbox_log(sandbox, sid=sid, kind="gather")
    assert [e["digits"] for e in pressed] == [None, "1"], "nothing heard at the first Gather"
    assert [hit.form["Digits"] for hit in hooks.on("gather", sid)] == ["1"]


async def test_successive_calls_take_successive_outcomes(
    sandbox: str, client: Client, receiver: tuple[Receiver, str]
) -> None:
    hooks, base = receiver
    sids = [
        await place(client, "+8613800000002", base, machine_detection="Enable") for _ in range(5)
    ]
    for sid in sids:
        await ended(hooks, sid)
    busy, no_answer, silent, machine, fax = sids
    finals = [hooks.statuses("status/call", sid) for sid in sids]
    assert finals == [["busy"], ["no-answer"], ["completed"], ["completed"], ["completed"]]
    assert not hooks.on("voice", busy) and not hooks.on("voice", no_answer), "nobody picked up"
    assert hooks.on("status/call", busy)[0].form["CallDuration"] == "0"
    assert not hooks.on("gather", silent), "nothing pressed: the action is not called"
    answered_by = [hooks.on("voice", sid)[0].form["AnsweredBy"] for sid in (silent, machine, fax)]
    assert answered_by == ["human", "machine_start", "fax"]
    fetched = await asyncio.to_thread(client.calls(busy).fetch)
    assert (fetched.status, fetched.duration, fetched.end_time, fetched.price) == (
        "busy", None, None, None,
    )  # fmt: skip


# ------------------------------------------------------------------------------ AMD, voicemail
@pytest.mark.parametrize(
    ("mode", "behaviour", "answered_by", "detected_ms", "recorded"),
    [
        ("DetectMessageEnd", {}, "machine_end_beep", 12_000, True),
        ("DetectMessageEnd", {"beep": False}, "machine_end_silence", 13_200, True),
        ("DetectMessageEnd", {"greeting_seconds": 40}, "unknown", 30_000, "cut_off"),
        ("Enable", {}, "machine_start", 2_400, "cut_off"),
    ],
)
async def test_synchronous_amd_answers_with_the_twiml_request_and_voicemail_keeps_what_follows(
    sandbox: str,
    client: Client,
    receiver: tuple[Receiver, str],
    mode: str,
    behaviour: dict[str, Any],
    answered_by: str,
    detected_ms: int,
    recorded: bool | str,
) -> None:
    """DetectMessageEnd waits for the greeting (12 s) to end, so the message lands after it;
    Enable answers at 2.4 s and the message runs over the greeting's end; a 40 s greeting
    outlasts MachineDetectionTimeout (30 s): `unknown`, and the message starts in it."""
    hooks, base = receiver
    message = (
        "This is refundwatch. A refund of three thousand yuan for order 1042 needs your answer "
        "today: please call us back, or answer in the app, before six this evening. Thank you."
    )  # about 11 s of speech
    hooks.twiml["voice"] = f'<Response><Say voice="Polly.Joanna">{message}</Say></Response>'
    phone = "+8613900000101"
    await control(sandbox, "PUT", f"/sandbox/numbers/{phone}",
                  json={"calls": [{"answer": "machine", **behaviour}]})  # fmt: skip
    sid = await place(client, phone, base, machine_detection=mode)
    await ended(hooks, sid)
    assert hooks.on("voice", sid)[0].form["AnsweredBy"] == answered_by
    detected = await sandbox_log(sandbox, sid=sid, kind="amd.detected")
    assert [(e["answered_by"], e["duration"]) for e in detected] == [
        (answered_by, str(detected_ms))
    ]
    state = (await control(sandbox, "GET", f"/sandbox/calls/{sid}")).json()
    assert (state["answered_by"], state["call"]["answered_by"]) == (answered_by, answered_by)
    whole = state["voicemail"]["recorded_text"] == message
    assert (whole, state["voicemail"]["cut_off"]) == (recorded is True, recorded == "cut_off")


async def test_async_amd_plays_at_once_posts_its_result_and_the_call_update_leaves_a_voicemail(
    sandbox: str, client: Client, receiver: tuple[Receiver, str]
) -> None:
    """AsyncAmd: the TwiML runs at pickup without AnsweredBy (a human would hear it at once);
    the result goes to AsyncAmdStatusCallback; updating the call with new TwiML then stops
    what plays and leaves the message after the beep."""
    hooks, base = receiver
    hooks.twiml["voice"] = '<Response><Say>Hello.</Say><Pause length="300"/></Response>'
    phone = "+8613900000102"
    await control(
        sandbox, "PUT", f"/sandbox/numbers/{phone}", json={"calls": [{"answer": "machine"}]}
    )
    sid = await place(
        client, phone, base, machine_detection="DetectMessageEnd", async_amd="true",
        async_amd_status_callback=f"{base}/amd?key=R-3",
    )  # fmt: skip
    await eventually(lambda: bool(hooks.on("amd", sid)))
    assert "AnsweredBy" not in hooks.on("voice", sid)[0].form
    amd = hooks.on("amd", sid)[0]
    assert amd.signed and amd.url == f"{base}/amd?key=R-3"
    assert amd.form == {
        "AccountSid": SID, "AnsweredBy": "machine_end_beep", "CallSid": sid,
        "MachineDetectionDuration": "12000",
    }  # fmt: skip
    message = "Refund R-3 needs your answer: call us back."
    updated = await asyncio.to_thread(
        client.calls(sid).update,
        twiml=f'<Response><Say voice="Polly.Amy" language="en-GB">{message}</Say></Response>',
    )
    assert updated.status == "in-progress"
    await ended(hooks, sid)
    state = (await control(sandbox, "GET", f"/sandbox/calls/{sid}")).json()
    assert state["voicemail"]["heard"] == [
        {"text": "Hello.", "recorded": False}, {"text": message, "recorded": True},
    ]  # fmt: skip
    assert not [hit for hit in hooks.on("status/call", sid) if "AnsweredBy" in hit.form]
    with pytest.raises(TwilioRestException) as refused:
        await asyncio.to_thread(client.calls(sid).update, status="completed")
    assert (refused.value.status, refused.value.code) == (400, 21220), "the call has ended"


async def test_async_amd_for_a_human_and_hanging_up_with_an_update(
    sandbox: str, client: Client, receiver: tuple[Receiver, str]
) -> None:
    hooks, base = receiver
    hooks.twiml["voice"] = '<Response><Say>Hello.</Say><Pause length="300"/></Response>'
    sid = await place(client, "+8613800000001", base, machine_detection="Enable",
                      async_amd="true", async_amd_status_callback=f"{base}/amd")  # fmt: skip
    await eventually(lambda: bool(hooks.on("amd", sid)))
    assert hooks.on("amd", sid)[0].form["AnsweredBy"] == "human"
    assert hooks.on("amd", sid)[0].form["MachineDetectionDuration"] == "2200"
    await asyncio.to_thread(client.calls(sid).update, status="completed")
    await ended(hooks, sid, timeout=2)
    fetched = await asyncio.to_thread(client.calls(sid).fetch)
    assert (fetched.status, fetched.answered_by) == ("completed", "human")
    assert int(fetched.duration) < 300, "hung up in the middle of the pause"


# ------------------------------------------------------------------------------ callbacks
@pytest.mark.parametrize(
    ("fragment", "attempts", "notification"),
    [("", 1, None), ("#rc=2&rp=5xx", 3, None), ("#rc=2", 1, None), ("#rc=2&rp=often", 1, 11243)],
)
async def test_a_failed_callback_is_tried_once_unless_its_url_asks_for_retries(
    sandbox: str,
    client: Client,
    receiver: tuple[Receiver, str],
    fragment: str,
    attempts: int,
    notification: int | None,
) -> None:
    hooks, base = receiver
    hooks.failures["status/sms"] = 5
    message = await asyncio.to_thread(
        client.messages.create, to="+8613800000010", from_=OURS, body="hi",
        status_callback=f"{base}/status/sms?k=1{fragment}",
    )  # fmt: skip
    await eventually(lambda: len(hooks.on("status/sms")) >= attempts + 1)
    await asyncio.sleep(0.2)
    sent = [hit for hit in hooks.on("status/sms") if hit.form["MessageStatus"] == "sent"]
    assert len(sent) == attempts
    assert all(hit.url == f"{base}/status/sms?k=1" and hit.signed for hit in sent), "no fragment"
    notes = await sandbox_log(sandbox, kind="notification")
    assert [e["code"] for e in notes if e["sid"] == message.sid] == (
        [notification] * 2 if notification else []
    )


@pytest.mark.parametrize(
    ("faults", "seen"),
    [
        ({"lose_callbacks": ["final"]}, ["sent"]),
        ({"lose_callbacks": ["sent"]}, ["delivered"]),
        ({"duplicate_callbacks": True}, ["sent", "sent", "delivered", "delivered"]),
        ({"reorder_callbacks": "after_next"}, ["delivered", "sent"]),
        ({"reorder_callbacks": "reverse"}, ["delivered", "sent"]),
    ],
)
async def test_callbacks_are_lost_duplicated_or_reordered_on_demand(
    sandbox: str,
    client: Client,
    receiver: tuple[Receiver, str],
    faults: dict[str, Any],
    seen: list[str],
) -> None:
    hooks, base = receiver
    phone = "+8613900000201"
    await control(sandbox, "PUT", f"/sandbox/numbers/{phone}", json={"faults": faults})
    message = await asyncio.to_thread(
        client.messages.create, to=phone, from_=OURS, body="hi", status_callback=f"{base}/s"
    )

    await eventually(lambda: len(hooks.statuses("s", message.sid)) >= len(seen))
    await asyncio.sleep(0.3)  # and nothing more comes
    assert hooks.statuses("s", message.sid) == seen
    other = await asyncio.to_thread(
        client.messages.create,
        to="+8613900000202",
        from_=OURS,
        body="hi",
        status_callback=f"{base}/s",
    )
    await eventually(lambda: len(hooks.statuses("s", other.sid)) == 2)
    assert hooks.statuses("s", other.sid) == ["sent", "delivered"], "faults are per number"


async def test_account_wide_faults_reorder_call_callbacks_by_sequence_number(
    sandbox: str, client: Client, receiver: tuple[Receiver, str]
) -> None:
    hooks, base = receiver
    faults = {"reorder_callbacks": "reverse", "channels": ["call"]}
    assert (await control(sandbox, "PUT", "/sandbox/faults", json=faults)).status_code == 200
    events = ["initiated", "ringing", "answered", "completed"]
    sid = await place(client, "+8613800000001", base, status_callback_event=events)
    await eventually(lambda: len(hooks.on("status/call", sid)) == 4)
    arrived = [hit.form["SequenceNumber"] for hit in hooks.on("status/call", sid)]
    assert arrived == ["3", "2", "1", "0"]


async def test_a_lost_create_answer_still_sends_the_message(
    sandbox: str, receiver: tuple[Receiver, str]
) -> None:
    hooks, base = receiver
    phone = "+8613900000301"
    behaviour = {"sms": [{"lose_create_response": True}, {"status": "delivered"}]}
    await control(sandbox, "PUT", f"/sandbox/numbers/{phone}", json=behaviour)
    form = {"To": phone, "From": OURS, "Body": "hi", "StatusCallback": f"{base}/s"}
    path = f"/2010-04-01/Accounts/{SID}/Messages.json"
    async with httpx.AsyncClient(base_url=sandbox, auth=(SID, TOKEN), timeout=0.5) as http:
        with pytest.raises(httpx.ReadTimeout):
            await http.post(path, data=form)
        listed = (await http.get(path, params={"To": phone})).json()["messages"]
        assert len(listed) == 1, "the create was taken"
        await eventually(lambda: hooks.statuses("s", listed[0]["sid"]) == ["sent", "delivered"])
        assert (await http.post(path, data=form)).status_code == 201, "the next entry answers"


async def test_account_wide_lost_answers_drop_the_connection_of_a_patient_client(
    sandbox: str, receiver: tuple[Receiver, str]
) -> None:
    hooks, base = receiver
    faults = {"lose_create_response": True, "lost_response_hold_seconds": 0.3, "channels": ["call"]}
    assert (await control(sandbox, "PUT", "/sandbox/faults", json=faults)).status_code == 200
    form = {"To": "+8613800000001", "From": OURS, "Url": f"{base}/voice",
            "StatusCallback": f"{base}/status/call"}  # fmt: skip
    async with httpx.AsyncClient(base_url=sandbox, auth=(SID, TOKEN), timeout=10) as http:
        with pytest.raises(httpx.RemoteProtocolError):
            await http.post(f"/2010-04-01/Accounts/{SID}/Calls.json", data=form)
        calls = (await http.get(f"/2010-04-01/Accounts/{SID}/Calls.json")).json()["calls"]
    assert len(calls) == 1
    await ended(hooks, calls[0]["sid"])
    assert hooks.statuses("status/call", calls[0]["sid"]) == ["completed"], "it played out"


# ------------------------------------------------------------------------------ auth tokens
async def test_token_rotation_signs_with_the_primary_and_authenticates_with_both(
    sandbox: str, receiver: tuple[Receiver, str]
) -> None:
    hooks, base = receiver
    old, new = twilio_client(sandbox), twilio_client(sandbox, NEW_TOKEN)

    async def sms(client: Client) -> str:
        message = await asyncio.to_thread(
            client.messages.create, to="+8613800000010", from_=OURS, body="hi",
            status_callback=f"{base}/s",
        )  # fmt: skip
        await eventually(lambda: len(hooks.statuses("s", message.sid)) == 2)
        return str(message.sid)

    created = await control(
        sandbox, "POST", "/sandbox/auth-tokens/secondary", json={"token": NEW_TOKEN}
    )
    assert (created.status_code, created.json()) == (201, {"secondary": True})
    during = await sms(new)  # the secondary authenticates …
    assert all(hit.signed for hit in hooks.on("s", during)), "… the primary still signs"
    assert (await control(sandbox, "POST", "/sandbox/auth-tokens/promote")).status_code == 200
    with pytest.raises(TwilioRestException) as refused:
        await asyncio.to_thread(old.messages.create, to="+8613800000010", from_=OURS, body="x")
    assert (refused.value.status, refused.value.code) == (401, 20003)
    hooks.token = NEW_TOKEN
    after = await sms(new)
    assert all(hit.signed for hit in hooks.on("s", after)), "signed with the promoted token"
    gone = await control(sandbox, "DELETE", "/sandbox/auth-tokens/secondary")
    assert gone.status_code == 404, "promoting used the secondary up"


async def test_wrong_or_missing_credentials_are_401(sandbox: str) -> None:
    expected = {
        "code": 20003, "message": "Authenticate",
        "more_info": "https://www.twilio.com/docs/errors/20003", "status": 401,
    }  # fmt: skip
    path = f"/2010-04-01/Accounts/{SID}/Calls.json"
    other = f"/2010-04-01/Accounts/AC{'0' * 32}/Calls.json"
    async with httpx.AsyncClient(base_url=sandbox) as http:
        wrong, right = httpx.BasicAuth(SID, "wrong"), httpx.BasicAuth(SID, TOKEN)
        for auth, url in [(wrong, path), (httpx.Auth(), path), (right, other)]:
            response = await http.post(url, data={"To": "+8613800000010"}, auth=auth)
            assert (response.status_code, response.json()) == (401, expected), (auth, url)
        assert not (await http.get("/sandbox/calls")).json(), "nothing was created"


# ------------------------------------------------------------------------------ inbound SMS
async def test_inbound_sms_is_posted_signed_and_only_twilio_keywords_opt_out(
    sandbox: str, client: Client, receiver: tuple[Receiver, str]
) -> None:
    hooks, _ = receiver

    async def text(phone: str, body: str) -> dict[str, Any]:
        answer = await control(sandbox, "POST", "/sandbox/inbound-sms",
                               json={"from": phone, "to": OURS, "body": body})  # fmt: skip
        assert answer.status_code == 200, answer.text
        result: dict[str, Any] = answer.json()
        return result

    async def blocked(phone: str) -> bool:
        try:
            await asyncio.to_thread(client.messages.create, to=phone, from_=OURS, body="x")
        except TwilioRestException as refused:
            return bool(refused.code == 21610)
        return False

    first = await text("+8613800000020", "1")
    assert (first["status_code"], first["replies"]) == (200, ["Got it."])
    hit = hooks.on("sms-in")[0]
    assert hit.signed and (hit.form["From"], hit.form["Body"], hit.form["NumMedia"]) == (
        "+8613800000020", "1", "0",
    )  # fmt: skip
    for n, word in enumerate(
        ["STOP", " revoke ", "OptOut", "unsubscribe", "退订", "TD", "STOP now"]
    ):
        phone = f"+86138000001{n:02d}"
        await text(phone, word)
        assert await blocked(phone) is (n < 4), word
    assert len(hooks.on("sms-in")) == 8, "every keyword is still delivered to the webhook"
    await text("+8613800000100", "start")
    assert not await blocked("+8613800000100"), "START lifts the block"


# ------------------------------------------------------------------------------ scenario, life
async def test_numbers_can_be_rescripted_at_run_time(
    sandbox: str, client: Client, receiver: tuple[Receiver, str]
) -> None:
    hooks, base = receiver
    phone = "+8613900000077"
    bad = await control(
        sandbox, "PUT", f"/sandbox/numbers/{phone}", json={"calls": [{"answer": "maybe"}]}
    )
    assert bad.status_code == 422 and "answer" in bad.text
    good = await control(sandbox, "PUT", f"/sandbox/numbers/{phone}",
                         json={"sms": [{"status": "failed", "error_code": 30008}]})  # fmt: skip
    assert good.status_code == 200
    message = await asyncio.to_thread(
        client.messages.create, to=phone, from_=OURS, body="hi", status_callback=f"{base}/s"
    )
    await eventually(lambda: bool(hooks.statuses("s", message.sid)))
    assert hooks.statuses("s", message.sid) == ["failed"], "a failed message is never sent"


def test_scenario_files_are_checked_with_a_reason(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    cases = [
        ('numbers:\n  "+8613800000002":\n    calls: [{answer: perhaps}]\n',
         r"numbers\.\+8613800000002\.calls\.0\.answer"),
        ("numbers:\n  +8613800000002: {calls: [{answer: busy}]}\n", "quote phone numbers"),
        ('numbers:\n  "+8613800000002": {calls: [{answer: busy, digits: ["1"]}]}\n',
         "digits are pressed by a human"),
        ('numbers:\n  "+8613800000002": {calls: [{answer: human, beep: false}]}\n',
         "only a machine beeps"),
        ('numbers:\n  "+8613800000002": {create_error: {code: 21610, channel: call}}\n',
         "21610 is an sms error"),
        ('numbers:\n  "+8613800000002": {faults: {lose_callbacks: [sometimes]}}\n', "cannot lose"),
    ]  # fmt: skip
    for text, reason in cases:
        bad.write_text(text)
        with pytest.raises(ScenarioError, match=reason):
            load_scenario(bad)
    with pytest.raises(ScenarioError, match="cannot read"):
        load_scenario(tmp_path / "missing.yaml")


async def test_shutdown_cancels_calls_still_ringing(scenario_file: Path) -> None:
    config = sandbox_config(scenario_file, timing=Timing(ring_seconds=60))
    started = time.monotonic()
    async with serve_asgi(create_app(config)) as url:
        await asyncio.to_thread(
            twilio_client(url).calls.create,
            to="+8613800000001",
            from_=OURS,
            url="http://127.0.0.1:9/v",
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
    assert "default.calls.0.answer" in stderr.decode() and "Traceback" not in stderr.decode()


async def test_reset_forgets_everything_and_restores_the_scenario_and_tokens(
    sandbox: str, client: Client
) -> None:
    phone = "+8613800000003"  # undelivered in the scenario file
    await control(
        sandbox, "PUT", f"/sandbox/numbers/{phone}", json={"sms": [{"status": "delivered"}]}
    )
    await control(sandbox, "POST", "/sandbox/auth-tokens/secondary", json={"token": NEW_TOKEN})
    await control(sandbox, "POST", "/sandbox/auth-tokens/promote")
    assert (await control(sandbox, "POST", "/sandbox/reset")).status_code == 204
    assert (await control(sandbox, "GET", "/sandbox/messages")).json() == []
    assert (await control(sandbox, "GET", "/sandbox/log")).json() == []
    number = (await control(sandbox, "GET", f"/sandbox/numbers/{phone}")).json()
    assert number["behaviour"]["sms"][0]["status"] == "undelivered"
    await asyncio.to_thread(client.messages.create, to=phone, from_=OURS, body="x")  # old token
