"""Which `<Say>` voice speaks which language: an allow-list taken from Twilio's own lists.

Twilio: "Using an invalid combination of voice and language may result in error and <Say>
instruction failure" (https://www.twilio.com/docs/voice/twiml/say). The defaults are that
page's: `voice` = `man`, `language` = `en-US`. The Basic voices `man`/`woman` take `en`,
`en-gb`, `es`, `fr`, `de` (previous revision of the same page; the current one calls en-US the
default, so it is allowed too). The Polly and Google voices and the languages they speak are
the entries of Twilio's generated TwiML voice enum (twilio/twilio-csharp
`src/Twilio/TwiML/Voice/Say.cs` @ f6b1f01016af1cc39055cbc6805e7953e7c941ef, `VoiceEnum`),
matched to their provider language codes (Polly's Zhiyu and Google's `cmn-CN-*` speak `cmn-CN`).

A voice/language pair not listed here is not spoken: the sandbox is never kinder than Twilio,
so a combination it cannot vouch for counts as one Twilio may refuse. Language codes compare
without regard to case (Twilio's own tables write both `en-gb` and `en-GB`).
"""

from __future__ import annotations

__all__ = ["DEFAULT_LANGUAGE", "DEFAULT_VOICE", "INVALID_VOICE", "speaks"]

DEFAULT_VOICE = "man"
DEFAULT_LANGUAGE = "en-US"
# Twilio documents no code for "this voice does not speak this language"; 13511 "Say: Invalid
# voice value" (https://www.twilio.com/docs/api/errors/13511) is the closest one.
INVALID_VOICE = (13511, "Say: Invalid voice value")

_BASIC = frozenset({"en", "en-us", "en-gb", "es", "fr", "de"})
_MANDARIN = frozenset({"cmn-cn"})
_US = frozenset({"en-us"})
_GB = frozenset({"en-gb"})

_CHIRP = ("Aoede", "Charon", "Fenrir", "Kore", "Leda", "Orus", "Puck", "Zephyr")
_US_POLLY = ("Joanna", "Matthew", "Salli", "Kendra", "Kimberly", "Ivy", "Joey", "Justin", "Kevin")

_VOICES: dict[str, frozenset[str]] = {
    "man": _BASIC,
    "woman": _BASIC,
    "Polly.Zhiyu": _MANDARIN,
    "Polly.Zhiyu-Neural": _MANDARIN,
    **{f"Google.cmn-CN-{kind}-{v}": _MANDARIN for kind in ("Standard", "Wavenet") for v in "ABCD"},
    **{f"Google.cmn-CN-Chirp3-HD-{name}": _MANDARIN for name in _CHIRP},
    **{f"Polly.{name}{suffix}": _US for name in _US_POLLY for suffix in ("", "-Neural")},
    **{f"Polly.{name}-Generative": _US for name in ("Joanna", "Matthew")},
    **{
        f"Polly.{name}{suffix}": _GB
        for name in ("Amy", "Brian", "Emma")
        for suffix in ("", "-Neural")
    },
    "Polly.Amy-Generative": _GB,
    **{f"Google.en-US-{kind}-{v}": _US for kind in ("Standard", "Wavenet") for v in "ABCDEFGHIJ"},
    **{f"Google.en-US-Neural2-{v}": _US for v in "ACDEFGHIJ"},
    **{f"Google.en-US-Chirp3-HD-{name}": _US for name in _CHIRP},
}


def speaks(voice: str | None, language: str | None) -> bool:
    """Whether Twilio lists `voice` for `language` (omitted ones take Twilio's defaults)."""
    voice = voice or DEFAULT_VOICE
    language = (language or DEFAULT_LANGUAGE).lower()
    return language in _VOICES.get(voice, frozenset())
