"""SMS segment counting (domain/sms_length.py) and the default templates' budget: every
template, in both languages, fits in one or two segments with its action link."""

from __future__ import annotations

import pytest

from domain.sms_length import SmsEncoding, sms_length
from messages.sms_samples import SAMPLE_LINK, TEMPLATES, sample
from messages.texts import SMS_SEGMENT_BUDGET


@pytest.mark.parametrize(
    ("text", "encoding", "units", "segments"),
    [
        ("", SmsEncoding.GSM7, 0, 0),
        ("a" * 160, SmsEncoding.GSM7, 160, 1),
        ("a" * 161, SmsEncoding.GSM7, 161, 2),
        ("a" * 306, SmsEncoding.GSM7, 306, 2),
        ("a" * 307, SmsEncoding.GSM7, 307, 3),
        ("€" * 80, SmsEncoding.GSM7, 160, 1),  # extension characters take two septets
        # 306 septets would be two parts, but an escape pair never straddles a boundary
        ("a" * 152 + "€" + "a" * 152, SmsEncoding.GSM7, 306, 3),
        ("退" * 70, SmsEncoding.UCS2, 70, 1),
        ("退" * 71, SmsEncoding.UCS2, 71, 2),
        ("退" * 134, SmsEncoding.UCS2, 134, 2),
        ("退" * 135, SmsEncoding.UCS2, 135, 3),
        ("a" * 69 + "😀", SmsEncoding.UCS2, 71, 2),  # an emoji is two UTF-16 units
        ("ç", SmsEncoding.UCS2, 1, 1),  # lower-case ç is not GSM-7 (only Ç is)
    ],
)
def test_segments_follow_twilio_encoding_rules(
    text: str, encoding: SmsEncoding, units: int, segments: int
) -> None:
    length = sms_length(text)
    assert (length.encoding, length.units, length.segments) == (encoding, units, segments)


@pytest.mark.parametrize("language", ["zh-CN", "en"])
@pytest.mark.parametrize("template", sorted(TEMPLATES))
def test_every_default_template_fits_two_segments_with_its_link(
    template: str, language: str
) -> None:
    text = sample(template, language)
    assert SAMPLE_LINK in text
    length = sms_length(text)
    assert length.encoding == (SmsEncoding.UCS2 if language == "zh-CN" else SmsEncoding.GSM7)
    assert 1 <= length.segments <= SMS_SEGMENT_BUDGET, (template, language, length, text)
