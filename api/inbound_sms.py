"""Inbound SMS from merchants: opt-out keywords, HELP, and answers to open refunds.

Parsing and phrasing only: an answer goes to the one entry point (application/answers.py),
which the refund's watch decides on.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import structlog

from application.answers import AnswerIn, AnswerStatus, AnswerVerdict, take_answer
from application.services import Services
from application.sms_senders import (
    contacts_for_phone,
    language_of_sender,
    open_refunds_of,
    record_sms_opt_out,
)
from db.models import Refund, utcnow
from domain.answers import Refusal
from domain.masking import mask_phone
from domain.vocabulary import ANSWER_CODES, Action, Channel
from messages.i18n import N_, Gettext, gettext_for

__all__ = ["handle_inbound_sms"]

log = structlog.get_logger(__name__)

# Twilio's default opt-out, opt-in and help keywords for long codes: a whole message of one of
# these words (twilio.com/docs/messaging/tutorials/advanced-opt-out). Twilio itself then
# blocks (or unblocks) our messages to that number and answers with its own confirmation.
TWILIO_STOP_WORDS = {"STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT", "REVOKE", "OPTOUT"}
START_WORDS = {"START", "YES", "UNSTOP"}
HELP_WORDS = {"HELP", "INFO"}
# How merchants in China unsubscribe ("退订", "TD"). Twilio does not know these: it will not
# block anything, so our own record (and the send path, which honours it) must, and we say so.
OWN_STOP_WORDS = {"退订", "TD"}
STOP_WORDS = TWILIO_STOP_WORDS | OWN_STOP_WORDS
# Both languages in one reply: the merchant may have set either, and it stops our SMS for good.
_OWN_STOP_REPLY = (
    "您已退订短信提醒，电话提醒将继续。回复 START 可重新订阅。"
    " You will get no more SMS from refundwatch; calls continue. Reply START to resume."
)
# "1", "2", "3", or with the refund's reply code: "1A", "2 b", "3A."
_ANSWER = re.compile(r"^\s*([" + "".join(ANSWER_CODES) + r"])\s*([A-Za-z])?\s*[.!]?\s*$")
_THANKS = {
    Action.HANDLE_NOW: N_("Thank you: refund %(refund)s marked 'handling now'."),
    Action.DISPUTE: N_(
        "Thank you: refund %(refund)s marked 'abnormal'. Please submit your evidence from the "
        "link in our message."
    ),
    Action.REJECT: N_(
        "Thank you: refund %(refund)s rejected as abnormal; its risk reasons are attached as "
        "evidence."
    ),
}
HELP_TEXT = N_(
    "refundwatch alerts about refunds close to auto-approval. Reply 1 to handle the refund now, "
    "2 if it is abnormal, 3 to reject it as abnormal where the alert offers it. "
    "Reply STOP to stop SMS (calls continue)."
)


def _listing(_: Gettext, refunds: Sequence[Refund]) -> str:
    if not refunds:
        return ""
    items = [
        _("%(refund)s: reply 1%(code)s or 2%(code)s")
        % {"refund": r.refund_id, "code": r.reply_code or ""}
        for r in refunds[:5]
    ]
    return " " + _("Open refunds: %(list)s.") % {"list": "; ".join(items)}


async def handle_inbound_sms(services: Services, form: dict[str, str]) -> str | None:
    """The reply to send back, or None."""
    phone = form.get("From", "")
    body = form.get("Body", "").strip()
    word = body.upper()
    message_sid = form.get("MessageSid", "")
    contacts = await contacts_for_phone(services, phone)
    if not contacts:
        log.info("sms_from_unknown_number", phone=mask_phone(phone))
        return None
    if word in STOP_WORDS or word in START_WORDS:
        await record_sms_opt_out(
            services,
            contacts,
            opted_out=word in STOP_WORDS,
            keyword=word,
            message_sid=message_sid,
        )
        # For its own keywords Twilio sends the standard confirmation; for ours, we do.
        return _OWN_STOP_REPLY if word in OWN_STOP_WORDS else None
    _ = gettext_for(await language_of_sender(services, contacts))
    if word in HELP_WORDS:
        return _(HELP_TEXT)
    match = _ANSWER.match(body)
    open_refunds = await open_refunds_of(services, {contact.merchant_id for contact in contacts})
    if match is None:
        sorry = _("Sorry, we did not understand that.")
        return f"{sorry} {_(HELP_TEXT)}{_listing(_, open_refunds)}"
    if not open_refunds:
        return _("You have no open refunds waiting for an answer. Thank you.")
    code = (match.group(2) or "").upper()
    if code:
        chosen = [r for r in open_refunds if r.reply_code == code]
        if not chosen:
            missing = _("No open refund has the code %(code)s.") % {"code": code}
            return missing + _listing(_, open_refunds)
        refund = chosen[0]
    elif len(open_refunds) == 1:
        refund = open_refunds[0]
    else:
        return _("Which refund do you mean?") + _listing(_, open_refunds)
    action = ANSWER_CODES[match.group(1)]
    verdict = await take_answer(
        services,
        AnswerIn(
            refund_id=refund.refund_id,
            merchant_id=refund.merchant_id,
            action=action,
            channel=Channel.SMS,
            source_event_id=f"sms:{message_sid}",
            raw=body,
            at=utcnow(),
        ),
    )
    return _reply(_, refund, action, verdict)


def _reply(_: Gettext, refund: Refund, action: Action, verdict: AnswerVerdict) -> str:
    values = {"refund": refund.refund_id, "code": refund.reply_code or ""}
    if verdict.status != AnswerStatus.REFUSED:  # taken, or kept and told later
        return _(_THANKS[action]) % values
    if verdict.refusal == Refusal.NOT_ABNORMAL:
        return (
            _(
                "Refund %(refund)s cannot be rejected in one reply: no abnormal signal was found. "
                "Reply 2%(code)s to dispute it with evidence."
            )
            % values
        )
    if verdict.refusal == Refusal.ALREADY_DISPUTED:
        return _("Refund %(refund)s is already marked abnormal. Thank you.") % values
    return _("Refund %(refund)s needs no further answer. Thank you.") % values
