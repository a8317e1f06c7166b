"""Which voice speaks to a merchant: the <Say> language and voice for their language.

Twilio speaks a language only in the voices it lists for it (twilio.com/docs/voice/twiml/say
and its text-to-speech page); without ``voice`` it uses ``man``, which speaks en, en-GB, es,
fr and de only, and an unlisted voice/language pair "may result in error and <Say> instruction
failure". Mandarin voices (Polly.Zhiyu, Google.cmn-CN-*) are listed as ``cmn-CN``.
"""

from __future__ import annotations

from dataclasses import dataclass

from config.settings import Settings

__all__ = ["Voice", "voice_for"]

# Twilio's <Say language> code per merchant language (domain language tags are BCP 47).
_SPEECH_LANGUAGE = {"zh-CN": "cmn-CN", "en": "en-US"}


@dataclass(frozen=True)
class Voice:
    language: str  # <Say language="…">
    name: str  # <Say voice="…">

    def attributes(self) -> dict[str, str]:
        return {"language": self.language, "voice": self.name}


def voice_for(language: str, settings: Settings) -> Voice:
    if language.startswith("zh"):
        return Voice(_SPEECH_LANGUAGE["zh-CN"], settings.voice_zh_cn)
    return Voice(_SPEECH_LANGUAGE["en"], settings.voice_en)
