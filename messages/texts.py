"""What merchants read and hear, per language. Facts come in; no personal data goes out in logs."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta

from domain.vocabulary import Action

__all__ = [
    "RefundFacts",
    "call_script",
    "confirmation",
    "evidence_sms_text",
    "in_app_text",
    "next_refund_intro",
    "no_further_answer",
    "sms_text",
    "voicemail_text",
]


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


def _codes(facts: RefundFacts) -> tuple[str, str]:
    return f"1{facts.reply_code}", f"2{facts.reply_code}"


def _reject_code(facts: RefundFacts) -> str:
    return f"3{facts.reply_code}"


def _hours(delta: timedelta, language: str) -> str:
    minutes = max(0, int(delta.total_seconds() // 60))
    if minutes >= 120:
        value = f"{minutes // 60}"
        return f"{value}小时" if language.startswith("zh") else f"{value} hours"
    return f"{minutes}分钟" if language.startswith("zh") else f"{minutes} minutes"


def in_app_text(facts: RefundFacts, purpose: str) -> str:
    left = _hours(facts.time_left, facts.language)
    if purpose == "evidence":
        return _evidence_text(facts)
    if facts.language.startswith("zh"):
        if purpose == "reminder":
            return f"提醒：退款 {facts.refund_id}（{facts.amount}）仍未处理，{left}后将自动同意。"
        return (
            f"退款 {facts.refund_id}（订单 {facts.order_id}，{facts.amount}）"
            f"将在{left}后自动同意，请尽快处理。"
        )
    if purpose == "reminder":
        return (
            f"Reminder: refund {facts.refund_id} ({facts.amount}) is still open and will be "
            f"auto-approved in {left}."
        )
    return (
        f"Refund {facts.refund_id} (order {facts.order_id}, {facts.amount}) will be "
        f"auto-approved in {left}. Please review it."
    )


def sms_text(facts: RefundFacts, others: Sequence[RefundFacts] = ()) -> str:
    """One SMS for this refund; the merchant's other open refunds are listed in the same message
    (with their own reply codes) so several alerts do not arrive as several texts."""
    zh = facts.language.startswith("zh")
    handle, dispute = _codes(facts)
    left = _hours(facts.time_left, facts.language)
    reject = _reject_code(facts)
    if zh:
        text = (
            f"【退款提醒】退款 {facts.refund_id}（{facts.amount}）将在{left}后自动同意。"
            f"回复{handle}立即处理，回复{dispute}标记异常。"
        )
        if facts.abnormal:
            text += f"回复{reject}以异常为由拒绝。"
    else:
        text = (
            f"refundwatch: refund {facts.refund_id} ({facts.amount}) will be auto-approved in "
            f"{left}. Reply {handle} to handle it now, {dispute} if it is abnormal."
        )
        if facts.abnormal:
            text = text[:-1] + f", {reject} to reject it as abnormal."
    listed = [
        f"{o.refund_id} {o.amount} ({_hours(o.time_left, o.language)}): "
        + ("回复" if zh else "reply ")
        + "/".join(_codes(o))
        for o in others[:4]
    ]
    if listed:
        text += (" 另有待处理退款：" if zh else " Also open: ") + "; ".join(listed) + "."
    return text


def _evidence_text(facts: RefundFacts) -> str:
    left = _hours(facts.evidence_left or timedelta(0), facts.language)
    if facts.language.startswith("zh"):
        return (
            f"您已对退款 {facts.refund_id}（{facts.amount}）提出异议，但尚未提交证据，"
            f"还剩{left}。请在商家后台上传。"
        )
    return (
        f"You disputed refund {facts.refund_id} ({facts.amount}); evidence is still missing, "
        f"{left} left. Please upload it in the merchant app."
    )


def evidence_sms_text(facts: RefundFacts) -> str:
    """The lighter ladder after a dispute: no reply codes, just what is missing and by when."""
    return ("【退款提醒】" if facts.language.startswith("zh") else "refundwatch: ") + (
        _evidence_text(facts)
    )


def call_script(facts: RefundFacts) -> tuple[str, str]:
    """(message, prompt) spoken on the call."""
    left = _hours(facts.time_left, facts.language)
    zh = facts.language.startswith("zh")
    if facts.evidence_left is not None:
        again = "重听请按星号键。" if zh else "Press star to hear this again."
        return (("您好，" if zh else "Hello. ") + _evidence_text(facts), again)
    if zh:
        reject = "以异常为由拒绝该退款请按3，" if facts.abnormal else ""
        return (
            f"您好，这里是退款提醒。订单 {facts.order_id} 的退款 {facts.amount} "
            f"将在{left}后自动同意。",
            f"立即处理请按1，退款异常请按2，{reject}重听请按星号键。",
        )
    reject = "Press 3 to reject this refund as abnormal. " if facts.abnormal else ""
    return (
        f"Hello, this is a refund alert. The refund of {facts.amount} for order "
        f"{facts.order_id} will be approved automatically in {left}.",
        "Press 1 if you will handle it now. Press 2 if the refund is abnormal. "
        f"{reject}Press star to hear this again.",
    )


def voicemail_text(facts: RefundFacts) -> str:
    """Left on an answering machine after its greeting: what is at stake and where to answer
    (the SMS carries the reply codes; a call cannot be answered by a machine)."""
    left = _hours(facts.time_left, facts.language)
    if facts.language.startswith("zh"):
        return (
            f"您好，这里是退款提醒。订单 {facts.order_id} 的退款 {facts.amount} 将在{left}后"
            "自动同意。请查看我们发给您的短信或商家后台，尽快处理。再见。"
        )
    return (
        f"Hello, this is a refund alert. The refund of {facts.amount} for order "
        f"{facts.order_id} will be approved automatically in {left}. Please check the SMS we "
        "sent you, or the merchant app, and answer it soon. Goodbye."
    )


def confirmation(action: str, language: str) -> str:
    zh = language.startswith("zh")
    if action == Action.HANDLE_NOW:
        return (
            "已记录：您将立即处理。谢谢。" if zh else "Recorded: you will handle it now. Thank you."
        )
    if action == Action.DISPUTE:
        return (
            "已记录：您认为该退款异常。谢谢。"
            if zh
            else "Recorded: you flagged this refund as abnormal. Thank you."
        )
    if action == Action.REJECT:
        return (
            "已记录：您以异常为由拒绝该退款，风险原因已作为证据提交。谢谢。"
            if zh
            else "Recorded: you rejected this refund as abnormal; its risk reasons are attached "
            "as evidence. Thank you."
        )
    return "未识别的按键。" if zh else "Sorry, that key is not an option."


def no_further_answer(language: str) -> str:
    """Said when a key press does not count any more (the refund closed, or is disputed)."""
    if language.startswith("zh"):
        return "该退款无需再次回复。谢谢。"
    return "This refund needs no further answer. Thank you."


def next_refund_intro(language: str) -> str:
    """Said before the next open refund when one call walks through several."""
    if language.startswith("zh"):
        return "您还有一笔退款待处理。"
    return "You have another refund waiting."
