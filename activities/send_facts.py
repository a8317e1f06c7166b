"""What the send activity reads before deciding, and the provider call it then makes."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from urllib.parse import quote

from sqlmodel import col, func, select
from sqlmodel.ext.asyncio.session import AsyncSession

from activities.types import SendInput, SendResult
from db.attempts import attempt_by_key, nth_contact
from db.merchant_links import mint_link
from db.models import Contact, Merchant, NotificationAttempt, Refund, utcnow
from domain.sending import SendFacts
from domain.vocabulary import AttemptState, Channel, Purpose, RefundState, SendStatus
from messages.facts import refund_facts
from messages.texts import RefundFacts, evidence_sms_text, sms_text
from notifier.base import AmdRequest, Notifier, ProviderReceipt

__all__ = [
    "CALLBACK_RETRIES",
    "SendConfig",
    "SendContext",
    "deliver",
    "link_for",
    "message_body",
    "other_open_refunds",
    "read_send_facts",
    "resume_earlier",
    "too_late",
]


def too_late(refund: Refund) -> bool:
    """The watch closed, or the deadline passed, while this send waited (a retry, a restart)."""
    return refund.closed_at is not None or utcnow() >= refund.deadline_at


async def read_send_facts(
    session: AsyncSession,
    refund: Refund,
    request: SendInput,
    channel: Channel,
    sms_per_hour: int,
) -> tuple[SendFacts, Contact | None, NotificationAttempt | None]:
    """The facts :func:`domain.sending.hold_for` decides on, with the rows they came from."""
    contact = await nth_contact(session, refund.merchant_id, request.contact_index)
    existing = await attempt_by_key(session, request.idempotency_key)
    sms = channel == Channel.SMS and contact is not None
    facts = SendFacts(
        channel=channel,
        too_late=too_late(refund),
        has_contact=contact is not None,
        earlier=existing.status if existing is not None else None,
        opted_out=sms and contact is not None and contact.sms_opted_out,
        sms_cap_reached=sms and await _sms_cap_reached(session, refund.merchant_id, sms_per_hour),
    )
    return facts, contact, existing


async def _sms_cap_reached(session: AsyncSession, merchant_id: str, per_hour: int) -> bool:
    since = utcnow() - timedelta(hours=1)
    statement = select(func.count()).where(
        NotificationAttempt.merchant_id == merchant_id,
        NotificationAttempt.channel == Channel.SMS,
        col(NotificationAttempt.provider_sid).is_not(None),
        col(NotificationAttempt.created_at) >= since,
    )
    sent = (await session.exec(statement)).one()
    return int(sent) >= per_hour


async def _open_others(session: AsyncSession, refund: Refund) -> list[Refund]:
    statement = (
        select(Refund)
        .where(
            Refund.merchant_id == refund.merchant_id,
            Refund.state == RefundState.OPEN,
            Refund.refund_id != refund.refund_id,
        )
        .order_by(col(Refund.deadline_at))
    )
    return list((await session.exec(statement)).all())


async def other_open_refunds(
    session: AsyncSession, refund: Refund, merchant: Merchant
) -> list[RefundFacts]:
    """The merchant's other open refunds: one SMS lists them all (with their reply codes)."""
    return [refund_facts(other, merchant) for other in await _open_others(session, refund)]


async def link_for(
    session: AsyncSession, config: SendConfig, refund: Refund, key: str, *, alone: bool
) -> str:
    """Mint the action link this SMS carries (in the send's transaction; not committed): the
    refund and, unless ``alone`` (a dispute's reminder), the merchant's other open refunds."""
    if config.link_key is None:
        return ""
    others = [] if alone else await _open_others(session, refund)
    token = await mint_link(
        session, config.link_key, refund.merchant_id, [refund, *others], attempt_key=key
    )
    return f"{(config.link_base_url or config.public_base_url).rstrip('/')}/m/{token}"


def resume_earlier(existing: NotificationAttempt) -> SendResult:
    """What an earlier attempt under the same key ended as: its result stands."""
    key = existing.idempotency_key
    if existing.provider_sid:
        return SendResult(SendStatus.ACCEPTED, key, provider_sid=existing.provider_sid)
    if existing.status == AttemptState.FAILED:
        return SendResult(
            SendStatus.FAILED,
            key,
            error_code=existing.error_code,
            error_message=existing.error_message,
        )
    if existing.status == AttemptState.THROTTLED:
        return SendResult(SendStatus.THROTTLED, key)
    if existing.status == AttemptState.OPTED_OUT:
        return SendResult(SendStatus.OPTED_OUT, key, error_code=existing.error_code)
    return SendResult(SendStatus.UNKNOWN, key)


@dataclass(frozen=True)
class SendContext:
    """Everything the provider call needs, read before the session closed."""

    channel: Channel
    phone: str
    key: str
    body: str | None  # the SMS text; None for a call
    evidence: bool  # a dispute's "evidence still missing" reminder (a call offers no keys)
    machine_detection: bool = True
    # The merchant's language rides in the call's URL too, so that the apology said while our
    # database is away is in it (api/outage_twiml.py).
    language: str = "en"


@dataclass(frozen=True)
class SendConfig:
    public_base_url: str
    ring_timeout_s: int = 30
    sms_per_merchant_per_hour: int = 4
    # A send whose create got no answer counts as never sent once the provider's records
    # have not shown it for this long (activities/send_settle.py).
    settle_after_s: float = 20.0
    # The action links' HMAC key (domain/action_links.link_key); None: SMS carry no link
    # (unit tests of the send path only). Links go under link_base_url, else public_base_url.
    link_key: bytes | None = None
    link_base_url: str | None = None


# Our callback URLs ask Twilio to retry a failed delivery, which it does not do by default:
# connection overrides, a fragment Twilio reads and never sends (twilio.com/docs/usage/
# webhooks/webhooks-connection-overrides): up to 2 retries on a connect or read timeout or a
# 5xx, within Twilio's 15 s total. Nothing depends on them arriving (workflows/watch/steps.py
# looks the send up when it matters); they only make it likelier.
CALLBACK_RETRIES = "#rc=2&rp=ct,rt,5xx&tt=15000"


def message_body(facts: RefundFacts, others: list[RefundFacts]) -> str:
    if facts.evidence_left is not None:
        return evidence_sms_text(facts)
    return sms_text(facts, others)


async def deliver(notifier: Notifier, config: SendConfig, send: SendContext) -> ProviderReceipt:
    base = config.public_base_url
    q = f"key={quote(send.key, safe='')}"
    if send.channel == Channel.SMS:
        assert send.body is not None
        return await notifier.send_sms(
            to=send.phone,
            body=send.body,
            status_callback=f"{base}/twilio/status/sms?{q}{CALLBACK_RETRIES}",
        )
    # The call's purpose rides in its (signed) URL: an evidence reminder offers no keys.
    voice_q = q + (f"&purpose={Purpose.EVIDENCE}" if send.evidence else "")
    voice_q += f"&lang={quote(send.language, safe='')}"
    amd = (
        AmdRequest(wait_for_beep=True, result_url=f"{base}/twilio/voice/amd?{q}{CALLBACK_RETRIES}")
        if send.machine_detection
        else None
    )
    return await notifier.place_call(
        to=send.phone,
        voice_url=f"{base}/twilio/voice?{voice_q}",
        status_callback=f"{base}/twilio/status/call?{q}{CALLBACK_RETRIES}",
        amd=amd,
        ring_timeout_s=config.ring_timeout_s,
    )
