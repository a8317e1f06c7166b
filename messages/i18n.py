"""One translation catalogue for everything a person reads: SMS, voice, the merchant page and
the support pages (gettext, kept with Babel).

The catalogues are ``messages/locale/<locale>/LC_MESSAGES/refundwatch.po``; source strings
(msgids) are English. They are read from the ``.po`` files at start-up (Babel's pofile
reader, compiled in memory), so a clean clone needs no compile step and a wording change is a
``.po`` edit. ``python -m messages.catalogue`` extracts every marked string (``_()`` and
``N_()`` in Python, ``_()`` in the templates) and updates both catalogues;
tests/test_i18n.py fails while any of them lacks a translation.

Language choice, in order: an explicit switch (``?lang=`` or the page's language cookie), the
merchant's own setting (merchant page and messages), the browser's ``Accept-Language``, and
English.
"""

from __future__ import annotations

import gettext
from collections.abc import Callable
from functools import cache
from io import BytesIO
from pathlib import Path

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import Translations

__all__ = [
    "DOMAIN",
    "LANGUAGES",
    "LOCALE_DIR",
    "N_",
    "Gettext",
    "gettext_for",
    "language_of",
    "pick_language",
]

LOCALE_DIR = Path(__file__).resolve().parent / "locale"
DOMAIN = "refundwatch"
# The languages we serve (BCP 47, as the merchants table stores them) and their locale dirs.
LANGUAGES = {"zh-CN": "zh_CN", "en": "en"}
Gettext = Callable[[str], str]


def N_(message: str) -> str:
    return message


def language_of(tag: str | None) -> str | None:
    """Our language for a BCP 47 tag ("zh", "zh-Hans-CN", "en-GB"), or None."""
    if not tag:
        return None
    lowered = tag.strip().lower().replace("_", "-")
    if lowered.startswith("zh"):
        return "zh-CN"
    if lowered.startswith("en"):
        return "en"
    return None


@cache
def _translations(language: str) -> gettext.NullTranslations:
    locale = LANGUAGES[language]
    path = LOCALE_DIR / locale / "LC_MESSAGES" / f"{DOMAIN}.po"
    with path.open("rb") as source:
        catalog = read_po(source, locale=locale, domain=DOMAIN)
    compiled = BytesIO()
    write_mo(compiled, catalog)
    compiled.seek(0)
    return Translations(compiled, domain=DOMAIN)


def gettext_for(language: str | None) -> Gettext:
    """``_`` for ``language`` (anything we do not serve reads English)."""
    chosen = language_of(language) or "en"
    return _translations(chosen).gettext


def _accepted(header: str | None) -> str | None:
    """The first language of an Accept-Language header we serve, by the client's weights."""
    if not header:
        return None
    ranked: list[tuple[float, int, str]] = []
    for position, part in enumerate(header.split(",")):
        tag, _, params = part.strip().partition(";")
        weight = 1.0
        if params.strip().startswith("q="):
            try:
                weight = float(params.strip()[2:])
            except ValueError:
                weight = 0.0
        ranked.append((-weight, position, tag))
    for weight, _, tag in sorted(ranked):
        if weight < 0 and (found := language_of(tag)):
            return found
    return None


def pick_language(
    explicit: str | None = None,
    setting: str | None = None,
    accept_language: str | None = None,
) -> str:
    return language_of(explicit) or language_of(setting) or _accepted(accept_language) or "en"
