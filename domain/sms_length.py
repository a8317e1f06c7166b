"""How many SMS segments a text costs: GSM-7 or UCS-2, 160/153 or 70/67 characters a segment.

Twilio sends a body in the most compact encoding possible: GSM-7 (GSM 03.38, 7 bits a
character; the extension table's characters ``^{}\\[~]|€`` take an escape and so two) when
every character is in it, otherwise UCS-2 (16 bits a UTF-16 code unit: a character outside
the Basic Multilingual Plane, such as most emoji, takes two). One segment carries 140 octets:
160 GSM-7 characters or 70 UCS-2 units; a longer message is split and each part loses 6
octets to the concatenation header, leaving 153 and 67 (twilio.com/docs/glossary/
what-sms-character-limit and what-is-ucs-2-character-encoding). A part never splits an
escape pair or a surrogate pair, so a boundary can cost a unit. Billing is per segment.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

__all__ = ["GSM7_BASIC", "GSM7_EXTENSION", "SmsEncoding", "SmsLength", "sms_length"]

# GSM 03.38 basic character set (the 128 code points; LF and CR included, ESC excluded).
GSM7_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
# The extension table: each is sent as ESC + character, two septets.
GSM7_EXTENSION = frozenset("\f^{}\\[~]|€")

_SINGLE = {"gsm7": 160, "ucs2": 70}
_PART = {"gsm7": 153, "ucs2": 67}


class SmsEncoding(StrEnum):
    GSM7 = "gsm7"
    UCS2 = "ucs2"


@dataclass(frozen=True)
class SmsLength:
    encoding: SmsEncoding
    units: int  # septets (GSM-7) or UTF-16 code units (UCS-2)
    segments: int

    @property
    def per_segment(self) -> int:
        """The room one segment of this message has (single: 160/70, part: 153/67)."""
        table = _SINGLE if self.segments <= 1 else _PART
        return table[self.encoding.value]


def _unit_sizes(text: str) -> tuple[SmsEncoding, list[int]]:
    if all(ch in GSM7_BASIC or ch in GSM7_EXTENSION for ch in text):
        return SmsEncoding.GSM7, [2 if ch in GSM7_EXTENSION else 1 for ch in text]
    return SmsEncoding.UCS2, [2 if ord(ch) > 0xFFFF else 1 for ch in text]


def sms_length(text: str) -> SmsLength:
    """The encoding, size and segment count of ``text`` as the provider will send it."""
    encoding, sizes = _unit_sizes(text)
    units = sum(sizes)
    if units <= _SINGLE[encoding.value]:
        return SmsLength(encoding, units, 1 if text else 0)
    room = _PART[encoding.value]
    segments, used = 1, 0
    for size in sizes:  # an escape or surrogate pair never straddles two parts
        if used + size > room:
            segments, used = segments + 1, 0
        used += size
    return SmsLength(encoding, units, segments)
