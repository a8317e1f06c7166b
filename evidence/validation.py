"""What a merchant may submit as evidence, checked before anything is stored.

The type of a file is what its first bytes say (JPEG, PNG, WebP, PDF), never what the client
claims; a claim that disagrees with the bytes is refused too, naming the file. Each refusal is a
:class:`EvidenceRejectedError` subclass naming the field or file and the reason; the API maps
them to 422 (a field), 413 (too large) and 415 (a type we do not take).
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from dataclasses import dataclass
from typing import Literal, get_args

__all__ = [
    "ALLOWED_TYPES",
    "CATEGORIES",
    "FILENAME_MAX",
    "NOTE_MAX",
    "REQUEST_ID_PATTERN",
    "Category",
    "CheckedFile",
    "EvidenceLimits",
    "EvidenceRejectedError",
    "FileTooLargeError",
    "InvalidFieldError",
    "UnsupportedFileTypeError",
    "check_category",
    "check_file",
    "check_file_count",
    "check_note",
    "check_request_id",
    "detect_type",
    "sanitise_filename",
]

Category = Literal["empty_package", "swapped_item", "not_returned", "logistics_mismatch", "other"]
CATEGORIES: tuple[str, ...] = get_args(Category)
NOTE_MAX = 2000
FILENAME_MAX = 200
# The same shape as the in-app answer's request_id.
REQUEST_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$"

# Detected type → what we call it in messages.
ALLOWED_TYPES = {
    "image/jpeg": "JPEG",
    "image/png": "PNG",
    "image/webp": "WebP",
    "application/pdf": "PDF",
}
_ALLOWED_TEXT = ", ".join(ALLOWED_TYPES.values())
# What clients send for the same types; "no claim" values are ignored.
_ALIASES = {
    "image/jpg": "image/jpeg",
    "image/pjpeg": "image/jpeg",
    "application/x-pdf": "application/pdf",
}
_NO_CLAIM = {"", "application/octet-stream", "binary/octet-stream"}
_UNSAFE_IN_NAME = re.compile(r'[<>:"|?*;]')


class EvidenceRejectedError(ValueError):
    """Refused input: ``field`` is the form field (``files`` for a file), ``message`` why."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


class InvalidFieldError(EvidenceRejectedError):
    """A field's value is not acceptable (HTTP 422)."""


class FileTooLargeError(EvidenceRejectedError):
    """A file over the size limit (HTTP 413)."""


class UnsupportedFileTypeError(EvidenceRejectedError):
    """A file whose bytes are not an allowed type, or disagree with its claimed type (HTTP 415)."""


@dataclass(frozen=True)
class EvidenceLimits:
    max_file_bytes: int
    max_files: int


@dataclass(frozen=True)
class CheckedFile:
    """A file that passed every check, with what we record about it."""

    filename: str
    content_type: str
    data: bytes
    sha256: str

    @property
    def size_bytes(self) -> int:
        return len(self.data)


def detect_type(data: bytes) -> str | None:
    """The content type the first bytes prove, or None when it is none we accept."""
    if data.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if len(data) >= 12 and data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    if data.startswith(b"%PDF-"):
        return "application/pdf"
    return None


def sanitise_filename(raw: str | None, position: int) -> str:
    """A display name safe to store and to put in a Content-Disposition header.

    Only the last path segment is kept (browsers may send ``C:\\…\\photo.jpg``), control and
    formatting characters are dropped, characters that mean something to shells, Windows or
    HTTP headers become ``_``, leading dots go (no hidden files, no ``..``), and names longer
    than ``FILENAME_MAX`` are shortened keeping their extension. An empty result becomes
    ``file-<position>``. The name is a label only: storage keys never derive from it.
    """
    name = unicodedata.normalize("NFC", raw or "")
    name = re.split(r"[\\/]", name)[-1]
    name = "".join(ch for ch in name if not unicodedata.category(ch).startswith("C"))
    name = _UNSAFE_IN_NAME.sub("_", name)
    name = " ".join(name.split()).lstrip(". ").rstrip(". ")
    if not name:
        return f"file-{position}"
    if len(name) > FILENAME_MAX:
        stem, dot, extension = name.rpartition(".")
        if dot and stem and 0 < len(extension) <= 10:
            name = stem[: FILENAME_MAX - len(extension) - 1].rstrip(". ") + "." + extension
        else:
            name = name[:FILENAME_MAX].rstrip(". ")
    return name


def _no_nul(field: str, value: str) -> None:
    # PostgreSQL text cannot hold NUL: refuse it here rather than fail at the write.
    if "\x00" in value:
        raise InvalidFieldError(field, "must not contain NUL characters")


def check_category(value: str) -> str:
    if value not in CATEGORIES:
        raise InvalidFieldError(
            "category", f"must be one of {', '.join(CATEGORIES)}; got {value[:50]!r}"
        )
    return value


def check_note(value: str) -> str:
    _no_nul("note", value)
    note = value.strip()
    if len(note) > NOTE_MAX:
        raise InvalidFieldError("note", f"at most {NOTE_MAX} characters; got {len(note)}")
    return note


def check_request_id(value: str) -> str:
    if not re.fullmatch(REQUEST_ID_PATTERN, value):
        raise InvalidFieldError(
            "request_id",
            "1-64 characters: letters, digits, '_', '.', ':', '-' (starting with a letter or "
            "digit); send the same request_id when you retry",
        )
    return value


def check_file_count(count: int, limits: EvidenceLimits) -> None:
    if count > limits.max_files:
        raise InvalidFieldError(
            "files", f"at most {limits.max_files} files per submission; got {count}"
        )


def _size_text(size: int) -> str:
    for unit, scale in (("MiB", 1024 * 1024), ("KiB", 1024)):
        if size >= scale:
            return f"{round(size / scale, 1):g} {unit}"
    return f"{size} bytes"


def check_file(
    raw_name: str | None,
    claimed_type: str | None,
    data: bytes,
    limits: EvidenceLimits,
    position: int,
) -> CheckedFile:
    """Check one uploaded file. ``data`` may be cut at ``max_file_bytes + 1``: that is enough
    to know it is too large."""
    filename = sanitise_filename(raw_name, position)
    label = f"file {position} ({filename!r})"
    if not data:
        raise InvalidFieldError("files", f"{label} is empty")
    if len(data) > limits.max_file_bytes:
        raise FileTooLargeError(
            "files",
            f"{label} is larger than the limit of {_size_text(limits.max_file_bytes)} per file",
        )
    detected = detect_type(data)
    if detected is None:
        raise UnsupportedFileTypeError(
            "files", f"{label} is not an accepted type: send {_ALLOWED_TEXT}"
        )
    claim = (claimed_type or "").split(";")[0].strip().lower()
    claim = _ALIASES.get(claim, claim)
    if claim not in _NO_CLAIM and claim != detected:
        raise UnsupportedFileTypeError(
            "files",
            f"{label} is sent as {claim} but its content is {ALLOWED_TYPES[detected]} ({detected})",
        )
    return CheckedFile(
        filename=filename,
        content_type=detected,
        data=data,
        sha256=hashlib.sha256(data).hexdigest(),
    )
