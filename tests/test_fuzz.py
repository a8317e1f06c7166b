"""Random input through the real API (hypothesis): intake never leaves a partial record, and
forged, replayed or malformed Twilio webhooks are refused or change nothing.

Examples per test: ``REFUNDWATCH_FUZZ_EXAMPLES`` (default 40). Hypothesis keeps what it found in
.hypothesis/ and tries it first next time.
"""

from __future__ import annotations

import os
import re
from datetime import UTC, datetime, timedelta, timezone
from typing import Any
from urllib.parse import quote, urlencode

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlmodel import col, select
from temporalio.service import RPCError
from twilio.request_validator import RequestValidator

from db.models import AuditEvent, MerchantResponse, NotificationAttempt, Refund, RiskAssessment
from demo.payloads import merchant_body
from tests.harness.stack import LiveStack
from workflows.starter import watch_handle

EXAMPLES = int(os.environ.get("REFUNDWATCH_FUZZ_EXAMPLES", "40"))
FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
_MERCHANT = "m-fuzz-intake"
_NOW = datetime.now(UTC)

# ---------------------------------------------------------------------- intake payloads
# No lone surrogates: no HTTP client sends them. NUL is included: the API must refuse it.
_CHARS = st.characters(blacklist_categories=["Cs"])
junk = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(_CHARS, max_size=80),
    st.lists(st.integers(), max_size=3),
    st.dictionaries(st.text(_CHARS, max_size=5), st.integers(), max_size=2),
)
ids = st.one_of(
    st.from_regex(r"\A[A-Za-z0-9][A-Za-z0-9_.:-]{0,20}\Z"),
    st.text(_CHARS, max_size=70),
)
# Huge amounts and dates at the very ends of the calendar are included: they once reached the
# database write and failed there with a 500.
amounts = st.one_of(
    st.decimals(min_value=0, max_value=10**6, places=2, allow_nan=False).map(str),
    st.sampled_from(["0", "-1", "1e-9", "12.345", "NaN", "Infinity", "-0", "1E+3", " 5 ", "1e30"]),
    st.integers(min_value=-5, max_value=10**20).map(str),
    junk,
)
moments = st.one_of(
    st.datetimes(
        min_value=datetime(1, 1, 1),
        max_value=datetime(9999, 12, 31),
        timezones=st.sampled_from([UTC, timezone(timedelta(hours=14)), None]),
    ).map(lambda d: d.isoformat()),
    st.sampled_from(["2026-02-30T00:00:00Z", "yesterday", "2026-11-23", "1700000000"]),
    junk,
)
signals = st.one_of(
    st.fixed_dictionaries(
        {},
        optional={
            "buyer_refund_count": st.integers(min_value=-1, max_value=2**70),
            "buyer_account_age_days": st.integers(min_value=-1, max_value=10**6),
            "device_shared_accounts": st.integers(min_value=-1, max_value=10**6),
            "logistics": st.lists(
                st.sampled_from(["empty_package", "swapped_item", "no_tracking", "bogus"]),
                max_size=3,
            ),
            "refund_only_after_delivery": st.booleans(),
            "repeat_requests": st.integers(min_value=0, max_value=50),
        },
    ),
    junk,
)


@st.composite
def refund_payloads(draw: st.DrawFn) -> dict[str, Any]:
    """Mostly valid refunds (so the interesting paths run) with fields broken at random."""
    deadline = _NOW + timedelta(days=draw(st.integers(min_value=2, max_value=30)))
    body: dict[str, Any] = {
        "refund_id": f"R-fz-{draw(st.integers(min_value=0, max_value=40))}",  # repeats happen
        "merchant_id": _MERCHANT,
        "order_id": "O-fuzz",
        "amount": draw(st.sampled_from(["3000.00", "12.50", "8999.00"])),
        "currency": "CNY",
        "reason": "fuzz",
        "requested_at": (_NOW - timedelta(hours=1)).isoformat(),
        "deadline_at": deadline.isoformat(),
        "signals": {"logistics": ["empty_package"]},
    }
    broken = {
        "refund_id": ids,
        "merchant_id": st.one_of(st.just("m-nobody"), ids),
        "order_id": ids,
        "amount": amounts,
        "currency": st.one_of(st.sampled_from(["JPY", "KWD", "usd", "XXX", "CN"]), junk),
        "reason": st.one_of(st.text(_CHARS, max_size=600), junk),
        "requested_at": moments,
        "deadline_at": moments,
        "signals": signals,
    }
    for name in draw(st.sets(st.sampled_from(sorted(broken)), max_size=3)):
        if draw(st.booleans()):
            body[name] = draw(broken[name])
        else:
            del body[name]
    if draw(st.booleans()):
        body[draw(st.sampled_from(["extra", "amount_minor", "tracked"]))] = draw(junk)
    return body


async def _ensure_merchant(stack: LiveStack) -> None:
    response = await stack.http.post(
        "/v1/merchants",
        headers=stack.platform(),
        json=merchant_body(
            _MERCHANT, ["+8613900000999"], name="Fuzz Merchant", contact_names=["Fuzz"]
        ),
    )
    assert response.status_code in (200, 201), response.text


async def _partial_records(stack: LiveStack, refund_ids: list[str]) -> list[str]:
    """Refund rows missing their assessment, audit entry, or (tracked) their workflow."""
    problems: list[str] = []
    async with stack.services.sessions() as session:
        refunds = await session.exec(select(Refund).where(col(Refund.refund_id).in_(refund_ids)))
        for refund in refunds.all():
            assessed = await session.exec(
                select(RiskAssessment.id).where(RiskAssessment.refund_id == refund.refund_id)
            )
            received = await session.exec(
                select(AuditEvent.id).where(
                    AuditEvent.refund_id == refund.refund_id, AuditEvent.kind == "refund.received"
                )
            )
            if assessed.first() is None:
                problems.append(f"{refund.refund_id}: no risk assessment")
            if received.first() is None:
                problems.append(f"{refund.refund_id}: no refund.received audit event")
            if refund.tracked:
                try:
                    await watch_handle(stack.client, refund.refund_id).describe()
                except RPCError:
                    problems.append(f"{refund.refund_id}: tracked but no workflow")
                if refund.workflow_started_at is None:
                    problems.append(f"{refund.refund_id}: tracked but workflow_started_at unset")
    return problems


def _valid_id(value: object) -> bool:
    return (
        isinstance(value, str)
        and re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}", value) is not None
    )


async def _exists(stack: LiveStack, refund_id: object) -> bool:
    if not _valid_id(refund_id):
        return False  # never stored: the API refuses such ids (and PostgreSQL refuses NUL)
    async with stack.services.sessions() as session:
        return await session.get(Refund, refund_id) is not None


@FUZZ
@given(body=refund_payloads())
async def test_intake_fuzz_never_leaves_a_partial_record(
    stack: LiveStack, body: dict[str, Any]
) -> None:
    await _ensure_merchant(stack)
    refund_id = body.get("refund_id")
    existed = await _exists(stack, refund_id)
    response = await stack.intake(body)
    if isinstance(refund_id, str) and _valid_id(refund_id):
        stored = await _exists(stack, refund_id)
        if response.status_code >= 400 and not existed:
            assert not stored, f"{response.status_code} but a row was written: {body}"
        if response.status_code in (200, 201):
            assert stored
            assert response.json()["tracked"] == (response.json()["workflow_id"] is not None)
        assert await _partial_records(stack, [refund_id]) == [], body


@FUZZ
@given(body=refund_payloads())
async def test_intake_fuzz_answers_below_500(stack: LiveStack, body: dict[str, Any]) -> None:
    await _ensure_merchant(stack)
    response = await stack.intake(body)
    assert response.status_code in (200, 201, 409, 422), (response.status_code, body)


# Each of these once got past validation and failed at the database write with a 500.
@pytest.mark.parametrize(
    ("field", "value"),
    [
        pytest.param("amount", "1e30", id="amount-beyond-bigint"),
        pytest.param("requested_at", "0001-01-01T00:00:00+14:00", id="before-year-1-in-utc"),
        pytest.param("deadline_at", "9999-12-31T23:59:59-14:00", id="after-year-9999-in-utc"),
    ],
)
async def test_intake_refuses_out_of_range_values_with_422(
    stack: LiveStack, field: str, value: str
) -> None:
    await _ensure_merchant(stack)
    body = stack.refund_body(_MERCHANT, refund_id=f"R-range-{field}", deadline_in=86400)
    response = await stack.intake({**body, field: value})
    assert response.status_code == 422, (response.status_code, response.text)
    assert not await _exists(stack, body["refund_id"])


# ---------------------------------------------------------------------- webhooks
def _signature(stack: LiveStack, path_and_query: str, params: dict[str, str]) -> str:
    url = stack.settings.public_base_url + path_and_query
    token = stack.settings.twilio_auth_token.get_secret_value()
    signature: str = RequestValidator(token).compute_signature(url, params)
    return signature


def texts(max_size: int, min_size: int = 0) -> st.SearchStrategy[str]:
    """Text an HTTP client can send (no lone surrogates); NUL included."""
    return st.text(_CHARS, min_size=min_size, max_size=max_size)


_WEBHOOKS = ["/twilio/status/sms", "/twilio/status/call", "/twilio/voice", "/twilio/voice/gather"]
_FIELDS = "MessageSid MessageStatus CallSid CallStatus ErrorCode Digits AnsweredBy CallDuration"
form_fields = st.dictionaries(
    st.sampled_from([*_FIELDS.split(), "From", "To", "Body", "SmsStatus", "x"]),
    st.one_of(
        st.sampled_from(["delivered", "failed", "completed", "1", "2", "*", "machine_start"]),
        texts(40),
        st.sampled_from(["²", "１２", "٣"]),  # digits to str.isdigit(), not to int()
        st.integers(min_value=-(2**40), max_value=2**40).map(str),
    ),
    max_size=6,
)


async def _history_snapshot(stack: LiveStack, keys: list[str]) -> list[Any]:
    async with stack.services.sessions() as session:
        attempts = await session.exec(
            select(NotificationAttempt).where(col(NotificationAttempt.idempotency_key).in_(keys))
        )
        responses = await session.exec(select(MerchantResponse.source_event_id))
        return [
            sorted((a.idempotency_key, a.status, len(a.status_history)) for a in attempts.all()),
            len(responses.all()),
        ]


@pytest.fixture(scope="module")
async def sent_keys(stack: LiveStack) -> list[str]:
    """Keys of a delivered SMS and an in-app notice of a refund that is closed since, so
    nothing but the fuzz can change their records."""
    merchant_id, _ = await stack.merchant([{"calls": [{"answer": "no-answer"}]}])
    body = stack.refund_body(merchant_id, deadline_in=16)
    refund_id = body["refund_id"]
    assert (await stack.intake(body)).status_code == 201
    await stack.wait_view(
        refund_id,
        lambda v: any(a["channel"] == "sms" and a["status"] == "delivered" for a in v["attempts"]),
    )
    resolution = {"resolution": "cancelled", "event_id": f"ev-{refund_id}"}
    response = await stack.http.post(
        f"/v1/refunds/{refund_id}/resolution", headers=stack.platform(), json=resolution
    )
    assert response.status_code == 200
    assert await stack.outcome(refund_id) == "resolved"
    wid = f"refund-{refund_id}"
    return [f"{wid}:sms_reminder:c0:a1", f"{wid}:in_app_notice:in_app"]


@FUZZ
@given(
    path=st.sampled_from([*_WEBHOOKS, "/twilio/sms"]),
    key=st.one_of(st.sampled_from([0, 1]), texts(30, min_size=1)),
    params=form_fields,
    forge=st.sampled_from(["missing", "garbage", "wrong url", "wrong params"]),
)
async def test_forged_webhooks_are_refused_and_change_nothing(
    stack: LiveStack,
    sent_keys: list[str],
    path: str,
    key: int | str,
    params: dict[str, str],
    forge: str,
) -> None:
    chosen = sent_keys[key] if isinstance(key, int) else key
    query = "" if path == "/twilio/sms" else "?" + urlencode({"key": chosen})
    headers = {
        "missing": {},
        "garbage": {"X-Twilio-Signature": "bm90IGEgc2lnbmF0dXJl"},
        "wrong url": {"X-Twilio-Signature": _signature(stack, path + "?key=other", params)},
        "wrong params": {
            "X-Twilio-Signature": _signature(stack, path + query, {**params, "Forged": "1"})
        },
    }[forge]
    before = await _history_snapshot(stack, sent_keys)
    response = await stack.http.post(path + query, data=params, headers=headers)
    assert response.status_code == 403, (response.status_code, response.text)
    assert await _history_snapshot(stack, sent_keys) == before


@FUZZ
@given(
    path=st.sampled_from(_WEBHOOKS),
    key=st.one_of(st.sampled_from([0, 1]), texts(30, min_size=1)),
    params=form_fields,
)
async def test_signed_malformed_or_replayed_webhooks_answer_and_replays_change_nothing(
    stack: LiveStack, sent_keys: list[str], path: str, key: int | str, params: dict[str, str]
) -> None:
    chosen = sent_keys[key] if isinstance(key, int) else key
    path_and_query = f"{path}?key={quote(chosen, safe='')}"
    headers = {"X-Twilio-Signature": _signature(stack, path_and_query, params)}
    first = await stack.http.post(path_and_query, data=params, headers=headers)
    assert first.status_code < 500, (first.status_code, first.text)
    after_first = await _history_snapshot(stack, sent_keys)
    replay = await stack.http.post(path_and_query, data=params, headers=headers)
    assert replay.status_code == first.status_code
    assert await _history_snapshot(stack, sent_keys) == after_first, "a replay changed records"


@pytest.mark.parametrize("field", ["ErrorCode", "CallDuration"])
async def test_unicode_digits_in_a_status_callback_are_ignored_not_a_500(
    stack: LiveStack, sent_keys: list[str], field: str
) -> None:
    path = f"/twilio/status/call?key={quote(sent_keys[0], safe='')}"
    params = {"CallStatus": "failed", field: "²"}
    headers = {"X-Twilio-Signature": _signature(stack, path, params)}
    response = await stack.http.post(path, data=params, headers=headers)
    assert response.status_code == 204, response.status_code


# PostgreSQL text cannot hold NUL: these were 500s until the API refused them.
@pytest.mark.parametrize("where", ["webhook key", "refund reason", "merchant name"])
async def test_nul_characters_are_refused_not_a_500(stack: LiveStack, where: str) -> None:
    if where == "webhook key":
        path = "/twilio/status/sms?key=" + quote("refund-x\x00", safe="")
        params = {"MessageStatus": "delivered"}
        headers = {"X-Twilio-Signature": _signature(stack, path, params)}
        response = await stack.http.post(path, data=params, headers=headers)
    elif where == "refund reason":
        await _ensure_merchant(stack)
        body = stack.refund_body(_MERCHANT, refund_id="R-nul-reason", deadline_in=86400)
        response = await stack.intake({**body, "reason": "a\x00b"})
    else:
        merchant = merchant_body(
            "m-nul-name", ["+8613900000998"], name="a\x00b", contact_names=["x"]
        )
        response = await stack.http.post("/v1/merchants", headers=stack.platform(), json=merchant)
    assert response.status_code < 500, response.status_code


# Found by the schema fuzzer and an independent probe (issue 15): NUL in a path or a query
# parameter reached PostgreSQL and came back as a bare 500.
@pytest.mark.parametrize(
    "url",
    [
        "/v1/refunds/%00",
        "/v1/refunds/%00/timeline",
        "/v1/support/refunds/%00/history",
        "/v1/support/refunds/%00/outbound-events",
        "/v1/support/merchants/%00",
        "/v1/support/at-risk?merchant_id=%00",
        "/v1/support/at-risk?merchant_id=a%00b&limit=5",
    ],
)
async def test_nul_in_a_path_or_query_is_a_422_naming_it(stack: LiveStack, url: str) -> None:
    response = await stack.http.get(url, headers=stack.support())
    assert response.status_code == 422, response.text
    (problem,) = response.json()["detail"]
    assert problem["msg"] == "must not contain NUL characters"
    assert problem["loc"] == (["query", "merchant_id"] if "?" in url else ["path"])
