"""Every default SMS template filled with realistic values: what `refundwatch sms-lengths`
prints and tests/test_sms_length.py holds to the two-segment budget."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import timedelta

from messages.texts import RefundFacts, evidence_sms_text, sms_text

__all__ = ["SAMPLE_LINK", "TEMPLATES", "sample"]

# A production-length action link: a 22-character host and the 30-character token.
SAMPLE_LINK = "https://rw.example.com/m/" + "A" * 30

_BASE = RefundFacts(
    refund_id="R-20261202-0042",
    order_id="O-20261202-0042",
    amount="CNY 12,400.00",
    time_left=timedelta(minutes=95),
    language="en",
    reply_code="B",
    link=SAMPLE_LINK,
)


def _others(language: str) -> list[RefundFacts]:
    return [
        replace(_BASE, language=language, refund_id=f"R-20261202-00{n}", reply_code=code)
        for n, code in (("43", "C"), ("44", "D"), ("45", "E"))
    ]


TEMPLATES: dict[str, Callable[[RefundFacts], str]] = {
    "alert": lambda f: sms_text(f),
    "alert, abnormal (offers 3 = reject)": lambda f: sms_text(replace(f, abnormal=True)),
    "alert, abnormal, 3 more open refunds": lambda f: sms_text(
        replace(f, abnormal=True), _others(f.language)
    ),
    "evidence reminder (dispute)": lambda f: evidence_sms_text(
        replace(f, evidence_left=timedelta(hours=20))
    ),
}


def sample(template: str, language: str, link: str = SAMPLE_LINK) -> str:
    return TEMPLATES[template](replace(_BASE, language=language, link=link))
