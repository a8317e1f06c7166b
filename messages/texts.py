"""What merchants read and hear, per language. Facts come in; no personal data goes out in logs.

Every sentence is a msgid of the one catalogue (messages/i18n.py); the Chinese lives in
messages/locale/zh_CN/LC_MESSAGES/refundwatch.po. SMS texts are kept to one or two segments
(domain/sms_length.py): when the merchant's other open refunds would push a text past two,
they are counted instead of listed (the link opens all of them).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta

from domain.sms_length import sms_length
from domain.vocabulary import Action
from messages.i18n import N_, Gettext, gettext_for

__all__ = [
    "SMS_SEGMENT_BUDGET",
    "RefundFacts",
    "call_script",
    "confirmation",
    "duration_text",
    "evidence_sms_text",
    "in_app_text",
    "next_refund_intro",
    "no_further_answer",
    "sms_text",
    "voicemail_text",
]

SMS_SEGMENT_BUDGET = 2


@dataclass(frozen=True)
class RefundFacts:
    refund_id: str
    order_id: str
    amount: str  # already formatted, e.g. "CNY 2,400.00"
    time_left: timedelta
    language: str
    reply_code: str = ""
    # The risk gate found abnormal signals: one-click rejection (3) is offered.
    abnormal: bool = False
    # Set while the merchant's evidence for a dispute is awaited: the time left to submit it.
    evidence_left: timedelta | None = None
    # The merchant's action link (/m/<token>) for this message; "" when there is none.
    link: str = ""


def _codes(facts: RefundFacts) -> tuple[str, str]:
    return f"1{facts.reply_code}", f"2{facts.reply_code}"


def duration_text(delta: timedelta, language: str) -> str:
    _ = gettext_for(language)
    minutes = max(0, int(delta.total_seconds() // 60))
    if minutes < 1:
        return _("under a minute")
    if minutes >= 120:
        return _("%(n)s hours") % {"n": minutes // 60}
    return _("%(n)s minutes") % {"n": minutes}


def _base(facts: RefundFacts) -> dict[str, str]:
    return {
        "refund": facts.refund_id,
        "order": facts.order_id,
        "amount": facts.amount,
        "left": duration_text(facts.time_left, facts.language),
    }


def in_app_text(facts: RefundFacts, purpose: str) -> str:
    if purpose == "evidence":
        return _evidence_text(facts)
    _ = gettext_for(facts.language)
    if purpose == "reminder":
        return _(
            "Reminder: refund %(refund)s (%(amount)s) is still open and will be "
            "auto-approved in %(left)s."
        ) % _base(facts)
    return _(
        "Refund %(refund)s (order %(order)s, %(amount)s) will be auto-approved in %(left)s. "
        "Please review it."
    ) % _base(facts)


def _link(_: Gettext, facts: RefundFacts) -> str:
    # The separator is part of the msgid: Chinese needs no space before the link.
    return _(" Tap to answer: %(link)s") % {"link": facts.link} if facts.link else ""


def sms_text(facts: RefundFacts, others: Sequence[RefundFacts] = ()) -> str:
    """One SMS for this refund, with its action link; the merchant's other open refunds are
    listed (with their own reply codes) so several alerts do not arrive as several texts —
    or only counted when listing them would take the text past two segments."""
    _ = gettext_for(facts.language)
    handle, dispute = _codes(facts)
    reject = f"3{facts.reply_code}"
    values = {**_base(facts), "handle": handle, "dispute": dispute, "reject": reject}
    if facts.abnormal:
        text = (
            _(
                "refundwatch: refund %(refund)s (%(amount)s) will be auto-approved in %(left)s. "
                "Reply %(handle)s to handle it now, %(dispute)s if it is abnormal, %(reject)s to "
                "reject it as abnormal."
            )
            % values
        )
    else:
        text = (
            _(
                "refundwatch: refund %(refund)s (%(amount)s) will be auto-approved in %(left)s. "
                "Reply %(handle)s to handle it now, %(dispute)s if it is abnormal."
            )
            % values
        )
    link = _link(_, facts)
    if not others:
        return text + link
    listed = "; ".join(
        _("%(refund)s %(amount)s (%(left)s): reply %(codes)s")
        % {**_base(o), "codes": "/".join(_codes(o))}
        for o in others[:4]
    )
    counted = _("%(count)s more open refunds are on the page.") % {"count": len(others)}
    for extra in (_("Also open: %(list)s.") % {"list": listed}, counted):
        candidate = text + " " + extra + link
        if sms_length(candidate).segments <= SMS_SEGMENT_BUDGET:
            return candidate
    return text + link  # the page lists them all


def _evidence_text(facts: RefundFacts) -> str:
    _ = gettext_for(facts.language)
    left = duration_text(facts.evidence_left or timedelta(0), facts.language)
    return _(
        "You disputed refund %(refund)s (%(amount)s); evidence is still missing, %(left)s "
        "left. Please upload it in the merchant app."
    ) % {**_base(facts), "left": left}


def evidence_sms_text(facts: RefundFacts) -> str:
    """The lighter ladder after a dispute: no reply codes, what is missing, by when, and the
    link (the page takes a photo straight from the camera)."""
    _ = gettext_for(facts.language)
    link = _(" Upload here: %(link)s") % {"link": facts.link} if facts.link else ""
    return _("refundwatch:") + " " + _evidence_text(facts) + link


def call_script(facts: RefundFacts) -> tuple[str, str]:
    """(message, prompt) spoken on the call."""
    _ = gettext_for(facts.language)
    if facts.evidence_left is not None:
        return (_("Hello.") + " " + _evidence_text(facts), _("Press star to hear this again."))
    reject = _("Press 3 to reject this refund as abnormal.") + " " if facts.abnormal else ""
    return (
        _(
            "Hello, this is a refund alert. The refund of %(amount)s for order %(order)s "
            "will be approved automatically in %(left)s."
        )
        % _base(facts),
        _("Press 1 if you will handle it now. Press 2 if the refund is abnormal.")
        + " "
        + reject
        + _("Press star to hear this again."),
    )


def voicemail_text(facts: RefundFacts) -> str:
    """Left on an answering machine after its greeting: what is at stake and where to answer
    (the SMS carries the link and the reply codes; a machine cannot press keys)."""
    _ = gettext_for(facts.language)
    return _(
        "Hello, this is a refund alert. The refund of %(amount)s for order %(order)s will be "
        "approved automatically in %(left)s. We sent you a text message with a link: open it "
        "to answer in one tap. Goodbye."
    ) % _base(facts)


def confirmation(action: str, language: str) -> str:
    _ = gettext_for(language)
    if action == Action.HANDLE_NOW:
        return _("Recorded: you will handle it now. Thank you.")
    if action == Action.DISPUTE:
        return _("Recorded: you flagged this refund as abnormal. Thank you.")
    if action == Action.REJECT:
        return _(
            "Recorded: you rejected this refund as abnormal; its risk reasons are attached "
            "as evidence. Thank you."
        )
    return _("Sorry, that key is not an option.")


def no_further_answer(language: str) -> str:
    """Said when a key press does not count any more (the refund closed, or is disputed)."""
    return gettext_for(language)("This refund needs no further answer. Thank you.")


def next_refund_intro(language: str) -> str:
    """Said before the next open refund when one call walks through several."""
    return gettext_for(language)("You have another refund waiting.")


def outage_apology(language: str, *, again: bool) -> str:
    """Said on a call while our database is away: we try again in a moment (``again``), or,
    after a few tries, say that we will be in touch."""
    _ = gettext_for(language)
    if again:
        return _("Sorry, our system is busy for a moment. Please hold, we will try again.")
    return _(
        "Sorry, our system cannot take your answer right now. We will contact you again. Goodbye."
    )


def sms_outage_reply() -> str:
    """Replied to an SMS that came while the database was away: its sender's language is not
    known then, so both are said."""
    english = N_(
        "Sorry, we could not record your reply just now. Please send it again in a minute."
    )
    return f"{gettext_for('en')(english)} {gettext_for('zh-CN')(english)}"
