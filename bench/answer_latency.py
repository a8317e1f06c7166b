"""Benchmark 2 — answer latency: a signed keypad webhook (the merchant pressed 1 on the call)
until the watch's state shows the answer (its `status` query), vs a bare signal round trip
(signal an open BareWorkflow, query until it counts the signal). p50/p99; target p99 ≤ 1.5×.

    .venv/bin/python -m bench.answer_latency --quick     # 100 samples of each
    .venv/bin/python -m bench.answer_latency             # 500 samples of each

Each keypad sample is a real tracked refund (its watch is sleeping until its SMS, 24 h away) with
a call attempt on record, so POST /twilio/voice/gather takes the production path: signature
check, record the answer once, signal the workflow. Samples of the two kinds alternate, one
at a time, and each ends when a query first sees the change (queries are issued back to back).
"""

from __future__ import annotations

import argparse
import asyncio
import time
import uuid
from datetime import timedelta
from typing import Any
from urllib.parse import quote

import httpx
from sqlmodel import select
from temporalio.client import WorkflowHandle
from twilio.request_validator import RequestValidator

from bench.bare_workflow import BareWorkflow
from bench.report import console, save, summary, table
from bench.stack import AUTH_TOKEN, BARE_TASK_QUEUE, BenchStack, bench_stack, create_merchants
from config.settings import DEFAULT_POLICY
from db.attempts import claim_attempt
from db.models import Contact
from demo.payloads import refund_body
from workflows.refund_watch import RefundWatchWorkflow
from workflows.starter import watch_handle

QS = ("p50", "p99", "max", "mean")


async def _watch_with_call(stack: BenchStack, http: httpx.AsyncClient, merchant: str) -> str:
    """A tracked refund whose call attempt is on record; returns the attempt's key."""
    refund_id = f"R-lat-{uuid.uuid4().hex[:10]}"
    response = await http.post(
        f"{stack.api_urls[0]}/v1/refunds",
        json=refund_body(
            merchant,
            refund_id=refund_id,
            order_id="O-latency",
            reason="",  # the API's default: none given
            deadline_in=timedelta(hours=48),
        ),
    )
    response.raise_for_status()
    key = f"refund-{refund_id}:first_call:c0:a1"
    async with stack.sessions() as session:
        contact = (await session.exec(select(Contact).where(Contact.merchant_id == merchant))).one()
        attempt = await claim_attempt(
            session,
            {
                "idempotency_key": key,
                "refund_id": refund_id,
                "merchant_id": merchant,
                "contact_id": contact.id,
                "channel": "call",
                "step": "first_call",
                "attempt": 1,
            },
        )
        attempt.provider_sid = "CA" + uuid.uuid4().hex
        session.add(attempt)
        await session.commit()
    return key


async def keypad_sample(stack: BenchStack, http: httpx.AsyncClient, key: str) -> float:
    refund_id = key.split(":")[0].removeprefix("refund-")
    handle = watch_handle(stack.temporal, refund_id)
    path = f"/twilio/voice/gather?key={quote(key, safe='')}"
    params = {"CallSid": "CA" + uuid.uuid4().hex, "Digits": "1", "FinishedOnKey": ""}
    signature = RequestValidator(AUTH_TOKEN).compute_signature(stack.public_base_url + path, params)
    started = time.perf_counter()
    response = await http.post(
        stack.public_base_url + path, data=params, headers={"X-Twilio-Signature": signature}
    )
    response.raise_for_status()
    while (await handle.query(RefundWatchWorkflow.status)).answer != "handle_now":
        pass
    return time.perf_counter() - started


async def bare_sample(handle: WorkflowHandle[Any, Any]) -> float:
    started = time.perf_counter()
    await handle.signal(BareWorkflow.poke)
    while await handle.query(BareWorkflow.pokes) < 1:
        pass
    return time.perf_counter() - started


async def run(samples: int) -> None:
    async with bench_stack(policy=DEFAULT_POLICY, bare_worker=True) as stack:
        merchants = await create_merchants(stack, 20)
        async with httpx.AsyncClient(headers=stack.platform(), timeout=60) as http:
            console.print(f"preparing {samples} watches with a call on record …")
            keys = [
                await _watch_with_call(stack, http, merchants[i % len(merchants)])
                for i in range(samples + 10)
            ]
            bares = [
                await stack.temporal.start_workflow(
                    BareWorkflow.run, True, id=f"bare-lat-{i}-{uuid.uuid4().hex[:6]}",
                    task_queue=BARE_TASK_QUEUE,
                )
                for i in range(samples + 10)
            ]  # fmt: skip
            await asyncio.sleep(5)  # let every first workflow task and in-app step settle
            keypad: list[float] = []
            bare: list[float] = []
            for i, (key, handle) in enumerate(zip(keys, bares, strict=True)):
                b, k = await bare_sample(handle), await keypad_sample(stack, http, key)
                if i >= 10:  # the first ten warm up connections and caches
                    bare.append(b)
                    keypad.append(k)
    bare_s, keypad_s = summary(bare), summary(keypad)
    ratio_p99 = keypad_s["p99"] / bare_s["p99"]
    table(
        f"answer latency ({samples} samples each) — target p99 ≤ 1.5× bare",
        ["path", "p50 ms", "p99 ms", "max ms", "mean ms"],
        [
            ["bare signal → query sees it", *(bare_s[q] * 1000 for q in QS)],
            ["keypad webhook → watch state", *(keypad_s[q] * 1000 for q in QS)],
            ["ratio", keypad_s["p50"] / bare_s["p50"], ratio_p99,
             keypad_s["max"] / bare_s["max"], keypad_s["mean"] / bare_s["mean"]],
        ],
    )  # fmt: skip

    def draw(axes: Any) -> None:
        axes.boxplot([[v * 1000 for v in bare], [v * 1000 for v in keypad]], whis=(1, 99),
                     tick_labels=["bare signal", "keypad webhook"], showfliers=False)  # fmt: skip
        axes.set_ylabel("ms until the workflow state shows it (whiskers p1–p99)")
        axes.set_title(f"Answer latency: p99 {ratio_p99:.2f}× bare")

    save(
        "answer_latency",
        {
            "parameters": {"samples": samples},
            "bare_s": bare_s,
            "keypad_s": keypad_s,
            "ratio_p99": ratio_p99,
            "target_ratio_p99": 1.5,
            "bare_samples_s": bare,
            "keypad_samples_s": keypad,
        },
        draw,
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        prog="python -m bench.answer_latency",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--quick", action="store_true", help="100 samples instead of 500")
    parser.add_argument("--samples", type=int)
    args = parser.parse_args()
    asyncio.run(run(args.samples or (100 if args.quick else 500)))


if __name__ == "__main__":
    main()
