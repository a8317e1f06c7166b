"""Keep the catalogue in step with the code: ``python -m messages.catalogue`` (or ``--check``).

Extracts every marked string with Babel (``_()``/``N_()`` in Python, ``_()`` in the Jinja2
templates) from the packages people read text from, and updates
``messages/locale/{zh_CN,en}/LC_MESSAGES/refundwatch.po``: new msgids are added (English
gets its msgid as msgstr; Chinese is left empty for a translator), vanished ones are dropped.
``--check`` changes nothing and exits 1 while a string lacks a translation.
"""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass
from pathlib import Path

from babel.messages.catalog import Catalog
from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po, write_po

from messages.i18n import DOMAIN, LANGUAGES, LOCALE_DIR

__all__ = ["Missing", "extract", "missing", "update"]

ROOT = Path(__file__).resolve().parent.parent
SOURCES = ("messages", "api", "support", "application")
_METHODS = [
    ("**/templates/**.html", "jinja2.ext:babel_extract"),
    ("**/templates/**.svg.html", "jinja2.ext:babel_extract"),
    ("**.py", "python"),
]
_KEYWORDS = {"_": None, "N_": None}


@dataclass(frozen=True)
class Missing:
    locale: str
    msgid: str
    where: str


def extract() -> dict[str, list[str]]:
    """msgid → where it is used ("api/templates/merchant_link.html:12")."""
    found: dict[str, list[str]] = {}
    for package in SOURCES:
        for filename, lineno, message, _comments, _context in extract_from_dir(
            ROOT / package, _METHODS, keywords=_KEYWORDS, comment_tags=()
        ):
            if isinstance(message, str) and message:
                found.setdefault(message, []).append(f"{package}/{filename}:{lineno}")
    return found


def _po_path(locale: str) -> Path:
    return LOCALE_DIR / locale / "LC_MESSAGES" / f"{DOMAIN}.po"


def _read(locale: str) -> Catalog:
    path = _po_path(locale)
    if not path.exists():
        return Catalog(locale=locale, domain=DOMAIN)
    with path.open("rb") as source:
        return read_po(source, locale=locale, domain=DOMAIN)


def update() -> None:
    used = extract()
    for locale in LANGUAGES.values():
        old = _read(locale)
        new = Catalog(locale=locale, domain=DOMAIN, project="refundwatch", fuzzy=False)
        for msgid, places in sorted(used.items()):
            previous = old.get(msgid)
            text = previous.string if previous is not None and previous.string else ""
            if not text and locale == "en":
                text = msgid
            flags = ["python-format"] if "%(" in msgid else []
            new.add(msgid, text, locations=[_location(p) for p in places], flags=flags)
        path = _po_path(locale)
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("wb") as target:
            write_po(target, new, width=100, omit_header=False, sort_output=True)


def missing() -> list[Missing]:
    """Every used msgid without a translation in a catalogue, or whose placeholders differ."""
    used = extract()
    gaps: list[Missing] = []
    for locale in LANGUAGES.values():
        catalog = _read(locale)
        for msgid, places in sorted(used.items()):
            entry = catalog.get(msgid)
            text = entry.string if entry is not None else ""
            if not isinstance(text, str) or not text.strip() or _holes(text) != _holes(msgid):
                gaps.append(Missing(locale, msgid, places[0]))
    return gaps


def _location(place: str) -> tuple[str, int]:
    filename, _, line = place.rpartition(":")
    return filename, int(line)


def _holes(text: str) -> set[str]:
    return set(re.findall(r"%\((\w+)\)s", text))


def main(argv: list[str]) -> int:
    if "--check" not in argv:
        update()
    gaps = missing()
    for gap in gaps:
        print(f"{gap.locale}: no translation for {gap.msgid!r} ({gap.where})")  # noqa: T201
    return 1 if gaps else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
