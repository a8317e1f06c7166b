"""What a user would check after a fault batch, each as one assertion with a message that
names the seed and shows what went wrong:

* every refund reached its correct outcome (``Watch.expected``), the last wave after the faults
  was saved, and something was saved at all;
* the database agrees with Temporal: state, loss ledger, one closing audit event;
* the sandbox created no SMS or call twice for one idempotency key, and refundwatch knows every
  one it created, with its final status recorded exactly once;
* per fault: final statuses whose callbacks were refused during an outage were recorded once
  anyway (a retry, or Twilio's own record); provider errors were retried
  and final ones (21211) failed over instead.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import asdict
from datetime import datetime, timedelta

from sqlmodel import col, select

from config.settings import Settings
from db.engine import SessionFactory
from db.models import AuditEvent, LossEntry, NotificationAttempt, Refund
from notifier.twilio_notifier import TwilioNotifier
from scheduler.prices import backfill_prices
from tests.harness.faults.batch import Batch, key_of, step_of
from tests.harness.faults.history import call_refusals
from tests.harness.faults.reach import write_report_entry
from tests.harness.faults.scenarios import LAST_WAVE, SEED
from workflows.ids import workflow_id_for

# A send's final statuses, as Twilio spells them in callbacks.
FINAL_STATUSES = frozenset(
    {"delivered", "undelivered", "failed", "completed", "busy", "no-answer", "canceled"}
)

__all__ = [
    "all_checks",
    "assert_each_send_once",
    "assert_faults_retried_and_final_errors_failed_over",
    "assert_no_send_left_unsettled",
    "assert_outcomes",
    "assert_records",
    "assert_refused_callbacks_recovered",
    "eventually",
    "read_provider_records",
]

# A call "brought forward" by a failed SMS follows the failure within this (pacing included).
PROMPT = timedelta(seconds=3)


async def all_checks(*checks: Callable[[], Awaitable[None]]) -> None:
    """Run every check, then fail with all that failed: a long run (the 1,000-refund crash
    run takes 13 minutes) must not hide a sent-twice behind an earlier, lesser failure."""
    failures: list[str] = []
    for check in checks:
        try:
            await check()
        except AssertionError as err:
            failures.append(str(err))
    assert not failures, f"{len(failures)} check(s) failed:\n\n" + "\n\n".join(failures)


async def eventually(
    what: str, check: Callable[[], Awaitable[list[str]]], timeout_s: float
) -> None:
    """Poll ``check`` (which lists what is still wrong) until it lists nothing."""
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout_s
    while True:
        problems = await check()
        if not problems:
            return
        if loop.time() > end:
            shown = "\n  ".join(problems[:20])
            raise AssertionError(f"{what} (seed {SEED}), {len(problems)} problem(s):\n  {shown}")
        await asyncio.sleep(0.5)


async def assert_outcomes(batch: Batch, outcomes: dict[str, str]) -> None:
    """Each outcome follows from when the merchant was heard and the platform decided."""
    await batch.hear()
    await batch.recorded()
    wrong = [w for w in batch.watches.values() if outcomes[w.refund_id] not in w.expected()]
    if wrong:
        lines = [
            f"{w.refund_id} ({w.kind}): {outcomes[w.refund_id]}, expected"
            f" {sorted(w.expected()) or 'none (see the times)'}; {w.timeline()}"
            for w in wrong
        ]
        story = await batch.story(wrong[0])
        shown = "\n  ".join(lines)
        raise AssertionError(
            f"wrong outcomes (seed {SEED}):\n  {shown}\nthe sandbox log of the first:\n{story}"
        )
    # A crash can cost an answer (a call placed late or cut off is not repeated blindly):
    # then the merchant was never heard, and timed_out is right, as checked above. But the
    # last wave's merchants, called once the faults are over, are heard and saved; and the
    # batch must have saved some, or the resolved path went untested.
    lost = [
        f"{w.refund_id}: {outcomes[w.refund_id]}; {w.timeline()}"
        for w in batch.watches.values()
        if w.kind in LAST_WAVE and outcomes[w.refund_id] != "resolved"
    ]
    assert not lost, f"merchants called after the faults were lost (seed {SEED}):\n  " + (
        "\n  ".join(lost)
    )
    timelines = [f"{w.refund_id} ({w.kind}): {w.timeline()}" for w in batch.watches.values()]
    assert "resolved" in outcomes.values(), f"nothing was saved (seed {SEED}):\n  " + (
        "\n  ".join(timelines[:10])
    )


async def assert_records(batch: Batch, outcomes: dict[str, str]) -> None:
    """The database agrees with Temporal: state, loss ledger, and the outcome audit event."""
    ids = list(batch.watches)
    async with batch.sessions() as session:
        refunds = {
            r.refund_id: r
            for r in (await session.exec(select(Refund).where(col(Refund.refund_id).in_(ids))))
        }
        losses = set(
            (
                await session.exec(
                    select(LossEntry.refund_id).where(col(LossEntry.refund_id).in_(ids))
                )
            ).all()
        )
        closing = Counter(
            (
                await session.exec(
                    select(AuditEvent.refund_id).where(
                        col(AuditEvent.refund_id).in_(ids),
                        col(AuditEvent.kind).in_(["refund.resolved", "refund.timed_out"]),
                    )
                )
            ).all()
        )
    problems = []
    for refund_id, outcome in outcomes.items():
        if refunds[refund_id].state != outcome:
            problems.append(f"{refund_id}: state {refunds[refund_id].state} != {outcome}")
        if (refund_id in losses) != (outcome == "timed_out"):
            problems.append(f"{refund_id}: {outcome} but loss entry {refund_id in losses}")
        if closing[refund_id] != 1:
            problems.append(f"{refund_id}: {closing[refund_id]} closing audit events")
    assert not problems, f"records disagree (seed {SEED}):\n  " + "\n  ".join(problems)


async def assert_each_send_once(batch: Batch, settle_s: float = 30) -> None:
    """No key created twice on the sandbox; every send it created is known to refundwatch
    with its final status recorded exactly once (waiting ``settle_s`` for late callbacks)."""
    created, _, _ = await batch.sends()
    twice = {key: n for key, n in created.items() if n > 1}
    assert not twice, f"sent more than once (seed {SEED}): {twice}"
    assert created, "the batch sent nothing"

    async def unrecorded() -> list[str]:
        """Sends refundwatch does not know of, or whose final status has not landed once."""
        _, sid_of, final = await batch.sends()
        async with batch.sessions() as session:
            statement = select(NotificationAttempt).where(
                col(NotificationAttempt.idempotency_key).in_(list(sid_of))
            )
            attempts = {a.idempotency_key: a for a in await session.exec(statement)}
        problems = []
        for key, sid in sid_of.items():
            attempt = attempts.get(key)
            if attempt is None or attempt.provider_sid != sid:
                problems.append(
                    f"{key}: sandbox sid {sid}, ours {attempt and attempt.provider_sid}"
                )
                continue
            statuses = [entry["status"] for entry in attempt.status_history]
            duplicated = [s for s, n in Counter(statuses).items() if n > 1]
            if duplicated:
                problems.append(f"{key}: statuses recorded twice: {duplicated}")
            if sid not in final:
                problems.append(f"{key}: the sandbox has not finished {sid} yet")
            elif final[sid] not in statuses:
                ours = [f"{e['status']} at {str(e['at'])[11:23]}" for e in attempt.status_history]
                problems.append(
                    f"{key}: final status {final[sid]} not recorded: {', '.join(ours)};"
                    f" sandbox's callbacks: {await batch.deliveries(sid)}"
                )
        return problems

    await eventually("sends unknown to refundwatch or missing statuses", unrecorded, settle_s)


async def read_provider_records(
    settings: Settings, sessions: SessionFactory, report_as: str | None = None
) -> None:
    """What the scheduler's provider-records job does on its next pass: final statuses (and
    prices) a lost callback never brought are read from Twilio's records, and sends left with
    no sid are settled from them. ``report_as``: add what it did to the fault report."""
    notifier = TwilioNotifier.from_settings(settings)
    try:
        result = await backfill_prices(sessions, notifier, settled_for=timedelta(0), limit=10_000)
    finally:
        await notifier.close()
    if report_as is not None:
        write_report_entry(report_as, {"provider_records": asdict(result)})


async def assert_no_send_left_unsettled(batch: Batch) -> None:
    """No send is left not knowing whether it went out: none `unknown`, none claimed with no
    sid (a create whose answer was lost is settled from Twilio's records)."""
    ids = [w.refund_id for w in batch.watches.values()]
    async with batch.sessions() as session:
        attempts = (
            await session.exec(
                select(NotificationAttempt).where(col(NotificationAttempt.refund_id).in_(ids))
            )
        ).all()
    unsettled = [
        f"{a.idempotency_key}: {a.status}"
        for a in attempts
        if a.status == "unknown" or (a.status == "claimed" and a.provider_sid is None)
    ]
    assert not unsettled, f"sends left unsettled (seed {SEED}): {unsettled}"


async def assert_refused_callbacks_recovered(batch: Batch, settle_s: float = 30) -> None:
    """Final statuses whose callbacks met a dead API (or a 5xx while Temporal was down) were
    recorded anyway, exactly once: from a retry our URLs ask for, or from Twilio's own record
    (the watch's lookup, the scheduler's provider-records job). Twilio does not retry on its
    own, and nothing may depend on a callback arriving."""
    log = (await batch.sandbox.get("/sandbox/log", params={"kind": "callback"})).json()
    refused = {(e["sid"], e["status"]) for e in log if not e["delivered"]}
    assert refused, "no callback met the outage: the restarts came at the wrong time"
    finals = {(sid, status) for sid, status in refused if status in FINAL_STATUSES}

    async def unrecovered() -> list[str]:
        async with batch.sessions() as session:
            statement = select(NotificationAttempt).where(
                col(NotificationAttempt.provider_sid).in_({sid for sid, _ in finals})
            )
            history = {
                a.provider_sid: [entry["status"] for entry in a.status_history]
                for a in await session.exec(statement)
            }
        return [
            f"{sid} {status}: recorded {history.get(sid, []).count(status)}×"
            for sid, status in sorted(finals)
            if history.get(sid, []).count(status) != 1
        ]

    await eventually("final statuses whose callbacks were refused", unrecovered, settle_s)


async def assert_faults_retried_and_final_errors_failed_over(batch: Batch) -> None:
    """Injected 500s and 429s were retried until the provider took the send, once; a final
    error (21211, an invalid number) was tried once and the ladder failed over: the call to
    the backup contact, the call brought forward after an SMS to an invalid number."""
    created, _, _ = await batch.sends()
    log = (await batch.sandbox.get("/sandbox/log")).json()
    refusals: dict[str, list[int]] = {}
    for event in log:
        key = key_of(event.get("status_callback"))
        if event["kind"] in {"message.rejected", "call.rejected"} and key is not None:
            refusals.setdefault(key, []).append(event["code"])
    state = (await batch.sandbox.get("/sandbox/faults")).json()
    assert state["injected"].get("slow"), state
    retried = {key for key, codes in refusals.items() if {20500, 20429} & set(codes)}
    assert retried, "no 500 or 429 was injected: raise the rates"
    # A refused create is sent again until the provider takes it, unless it ends in a final error
    # or the refund's deadline passed first (then it is recorded "closed", never sent late).
    closed = await batch.closed_after_deadline()
    given_up = closed | {key for key in retried if 21211 in refusals[key]}
    problems = [f"{key}: refused {refusals[key]}, then created {created[key]}×"
                for key in retried if created[key] != 1 and key not in given_up]  # fmt: skip
    failed_over = 0
    for watch in batch.watches.values():
        wid = workflow_id_for(watch.refund_id)
        sms = f"{wid}:sms_reminder:c0:a1"
        if watch.kind.startswith("sms_invalid"):
            # 21211 exactly once — unless injected 429/500s held the try until the deadline,
            # where it is recorded "closed" (verified to be after the deadline above).
            tried_once = refusals.get(sms, []).count(21211) == 1
            if created[sms] or not (tried_once or sms in closed):
                problems.append(f"{sms}: 21211 must be tried once: {refusals.get(sms)}")
            continue
        # Every due SMS goes out exactly once, whatever the faults — unless its retries ran past
        # the deadline, where it is recorded "closed" (checked above) rather than sent late.
        if created[sms] != 1 and sms not in closed:
            problems.append(f"{sms}: created {created[sms]}×, refused {refusals.get(sms)}")
        if watch.kind.startswith("call_invalid"):
            calls = [key for key in {*refusals, *created} if key.startswith(f"{wid}:")]
            primary = [key for key in calls if step_of(key).endswith("_call") and ":c0:" in key]
            # Failed over = the backup contact was tried (a fault may still refuse that try).
            backup = [key for key in calls if ":c1:" in key]
            # 21211 exactly once — unless injected 429/500s held the try until the deadline,
            # where it is recorded "closed" (verified to be after the deadline above).
            tried = {key: refusals.get(key, []).count(21211) for key in primary}
            wrong = [k for k, n in tried.items() if created[k] or (n != 1 and k not in closed)]
            if wrong:
                problems.append(f"{wid}: invalid primary number called again: {primary}")
            if any(key.endswith(":a2") for key in primary):
                problems.append(f"{wid}: a retry after 21211: {primary}")
            # With time left when the watch received the refusal, it calls the backup instead.
            seen_refused = await call_refusals(batch.temporal(), watch.refund_id)
            if any(21211 in refusals.get(key, []) for key in primary) and not seen_refused:
                problems.append(f"{wid}: the sandbox refused a call, its history shows none")
            for refusal in seen_refused:
                seen = refusal.decided_at
                left = 0.0 if seen is None else (watch.deadline - seen).total_seconds()
                if left > 0 and not refusal.next_contact_scheduled:
                    problems.append(
                        f"{wid}: refused c{refusal.contact_index} seen {left:.2f}s before the"
                        f" deadline, no call to the next contact; sandbox: {sorted(calls)}"
                    )
            failed_over += bool(backup)
    assert not problems, f"provider faults (seed {SEED}):\n  " + "\n  ".join(problems)
    assert failed_over, "no call failed over to a backup contact: the batch did not test it"
    # An SMS whose only try was held past the deadline never failed: nothing to bring forward.
    invalid_sms = [
        w.refund_id
        for w in batch.watches.values()
        if w.kind.startswith("sms_invalid")
        and f"{workflow_id_for(w.refund_id)}:sms_reminder:c0:a1" not in closed
    ]
    late = [rid for rid in invalid_sms if not await _call_brought_forward(batch, rid)]
    assert not late, f"an invalid number for SMS must bring the call forward: {late}"


async def _call_brought_forward(batch: Batch, refund_id: str) -> bool:
    """After the SMS failed for good, the first call was moved earlier — or was due already."""
    async with batch.sessions() as session:
        statement = select(AuditEvent).where(AuditEvent.refund_id == refund_id)
        events = list((await session.exec(statement)).all())
    if any(e.kind == "step.moved_earlier" for e in events):
        return True
    failed = [e.at for e in events if e.kind == "send.failed" and e.detail.get("channel") == "sms"]
    planned = next(e.detail["steps"] for e in events if e.kind == "ladder.planned")
    first_call = next(datetime.fromisoformat(s["at"]) for s in planned if s["step"] == "first_call")
    if not failed:
        return False
    if min(failed) >= first_call:
        return True
    # Failed just before the call was due (e.g. after a retried 500): by the time the watch
    # heard, the call was due anyway — it must then follow the failure at once, not wait.
    calls = [e.at for e in events if e.kind == "send.call" and e.detail.get("step") == "first_call"]
    return bool(calls) and min(calls) <= min(failed) + PROMPT
