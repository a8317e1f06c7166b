"""Inbound SMS from merchants: opt-out keywords, HELP, and answers to open refunds."""

from __future__ import annotations

import re
from collections.abc import Sequence

import structlog
from sqlmodel import col, select

from api.services import Services
from db.audit import append_audit
from db.models import Contact, Refund, utcnow
from db.responses import record_response
from db.risk import refund_is_abnormal
from domain.masking import mask_phone
from workflows.inputs import MerchantAnswer

__all__ = ["handle_inbound_sms"]

log = structlog.get_logger(__name__)

STOP_WORDS = {"STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT"}
START_WORDS = {"START", "YES", "UNSTOP"}
HELP_WORDS = {"HELP", "INFO"}
# "1", "2", "3", or with the refund's reply code: "1A", "2 b", "3A."
_ANSWER = re.compile(r"^\s*([123])\s*([A-Za-z])?\s*[.!]?\s*$")
_ACTIONS = {"1": "handle_now", "2": "dispute", "3": "reject"}
_THANKS = {
    "handle_now": "marked 'handling now'.",
    "dispute": "marked 'abnormal'. Please submit your evidence in the merchant app.",
    "reject": "rejected as abnormal; its risk reasons are attached as evidence.",
}

HELP_TEXT = (
    "refundwatch alerts about refunds close to auto-approval. Reply 1 to handle the refund now, "
    "2 if it is abnormal. Reply STOP to stop SMS (calls continue)."
)


def _listing(refunds: Sequence[Refund]) -> str:
    if not refunds:
        return ""
    items = [f"{r.refund_id}: reply 1{r.reply_code} or 2{r.reply_code}" for r in refunds[:5]]
    return " Open refunds: " + "; ".join(items) + "."


async def handle_inbound_sms(
    services: Services, form: dict[str, str]
) -> tuple[str | None, tuple[str, MerchantAnswer] | None]:
    """Returns (reply text or None, (refund id, answer) to tell the workflow or None)."""
    phone = form.get("From", "")
    body = form.get("Body", "").strip()
    word = body.upper()
    message_sid = form.get("MessageSid", "")
    async with services.sessions() as session:
        contacts = (
            await session.exec(
                select(Contact).where(Contact.phone == phone, col(Contact.active).is_(True))
            )
        ).all()
        if not contacts:
            log.info("sms_from_unknown_number", phone=mask_phone(phone))
            return None, None
        if word in STOP_WORDS or word in START_WORDS:
            opted_out = word in STOP_WORDS
            for contact in contacts:
                contact.sms_opted_out = opted_out
                session.add(contact)
                await append_audit(
                    session,
                    kind="contact.sms_opted_out" if opted_out else "contact.sms_opted_in",
                    actor="merchant",
                    merchant_id=contact.merchant_id,
                    detail={"contact_id": contact.id, "keyword": word},
                    dedup_key=f"sms:{message_sid}:{contact.id}",
                )
            await session.commit()
            return None, None  # the carrier/Twilio sends the standard confirmation
        if word in HELP_WORDS:
            return HELP_TEXT, None
        match = _ANSWER.match(body)
        merchant_ids = {contact.merchant_id for contact in contacts}
        open_refunds = (
            await session.exec(
                select(Refund)
                .where(col(Refund.merchant_id).in_(merchant_ids), Refund.state == "open")
                .order_by(col(Refund.deadline_at))
            )
        ).all()
        if match is None:
            return f"Sorry, we did not understand that. {HELP_TEXT}{_listing(open_refunds)}", None
        if not open_refunds:
            return "You have no open refunds waiting for an answer. Thank you.", None
        code = (match.group(2) or "").upper()
        if code:
            chosen = [r for r in open_refunds if r.reply_code == code]
            if not chosen:
                return f"No open refund has the code {code}.{_listing(open_refunds)}", None
            refund = chosen[0]
        elif len(open_refunds) == 1:
            refund = open_refunds[0]
        else:
            return f"Which refund do you mean?{_listing(open_refunds)}", None
        action = _ACTIONS[match.group(1)]
        if action == "reject" and not await refund_is_abnormal(session, refund.refund_id):
            return (
                f"Refund {refund.refund_id} cannot be rejected in one reply: no abnormal signal "
                f"was found. Reply 2{refund.reply_code or ''} to dispute it with evidence.",
                None,
            )
        source = f"sms:{message_sid}"
        await record_response(
            session, refund=refund, channel="sms", action=action, raw=body, source_event_id=source
        )
        await session.commit()
    reply = f"Thank you: refund {refund.refund_id} {_THANKS[action]}"
    return reply, (refund.refund_id, MerchantAnswer(action, "sms", source, utcnow()))
