"""One catalogue for every text a person reads: no visible string lacks a translation.

Extraction is Babel's (``_()``/``N_()`` in Python, ``_()`` in the Jinja2 templates) over the
packages that produce text (messages/catalogue.py); every msgid must have a non-empty
translation in both catalogues with the same placeholders. The templates are also scanned for
visible text outside ``_()`` so a string typed straight into the HTML cannot slip past."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from messages.catalogue import extract, missing
from messages.i18n import gettext_for, pick_language

TEMPLATES = Path(__file__).resolve().parents[1] / "api" / "templates"
TRANSLATED_TEMPLATES = sorted(p.name for p in TEMPLATES.glob("*.html"))


def test_every_marked_string_is_translated_in_both_catalogues() -> None:
    assert len(extract()) > 80  # the extraction found the texts (not an empty pass)
    gaps = missing()
    assert gaps == [], "\n".join(f"{g.locale}: {g.msgid!r} ({g.where})" for g in gaps)


def test_the_catalogue_really_translates() -> None:
    assert gettext_for("zh-CN")("Refunds waiting for you") == "待您处理的退款"
    assert gettext_for("en")("Refunds waiting for you") == "Refunds waiting for you"
    assert gettext_for("fr")("Refund") == "Refund"  # a language we do not serve reads English


@pytest.mark.parametrize("name", TRANSLATED_TEMPLATES)
def test_templates_have_no_visible_text_outside_the_catalogue(name: str) -> None:
    html = (TEMPLATES / name).read_text()
    html = re.sub(
        r"\{\{.*?\}\}|\{%.*?%\}|<script.*?</script>|<style.*?</style>|<code>.*?</code>",
        " ",
        html,
        flags=re.S,
    )
    text_nodes = re.findall(r">([^<]+)<", html)
    # What may stay literal: the brand, the language names in their own language, symbols.
    # Product and protocol names (Temporal, SMS) are the same in both languages.
    allowed = {
        "refundwatch",
        "· refundwatch",
        "中文",
        "English",
        "◷",
        "UTC",
        "Temporal",
        "Temporal:",
        "SMS",
    }
    stray = [t.strip() for t in text_nodes if t.strip() and t.strip() not in allowed]
    units = r"\b(KiB|ms|s)\b"  # units next to numbers read the same in both languages
    stray = [t for t in stray if re.search(r"[A-Za-z\u4e00-\u9fff]", re.sub(units, "", t))]
    assert stray == [], stray


@pytest.mark.parametrize(
    ("explicit", "setting", "accept", "chosen"),
    [
        ("en", "zh-CN", "zh-CN,zh;q=0.9", "en"),  # the switch wins
        (None, "zh-CN", "en-US,en;q=0.9", "zh-CN"),  # then the merchant's setting
        (None, None, "fr-FR,zh-TW;q=0.8,en;q=0.5", "zh-CN"),  # then Accept-Language, by weight
        (None, None, "en;q=0.2,zh;q=0.9", "zh-CN"),
        (None, None, "fr", "en"),  # nothing we serve: English
    ],
)
def test_language_choice(
    explicit: str | None, setting: str | None, accept: str, chosen: str
) -> None:
    assert pick_language(explicit, setting, accept) == chosen
