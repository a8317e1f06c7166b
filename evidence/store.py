"""Where evidence bytes live. The database holds the metadata and a ``storage_key`` per file;
the bytes sit in an :class:`EvidenceStore` under that key.

Keys are always made by :func:`new_storage_key` — never from a client's filename — so a name
like ``../../etc/passwd`` can only ever be a label in the database. The interface is kept to
what object storage offers too (put, open, delete), so a bucket can replace the local directory.
"""

from __future__ import annotations

import asyncio
import os
import re
import tempfile
import uuid
from collections.abc import AsyncIterator
from contextlib import suppress
from pathlib import Path
from typing import BinaryIO, Protocol

__all__ = [
    "EvidenceStore",
    "InvalidStorageKeyError",
    "LocalDirStore",
    "StoredObjectMissingError",
    "new_storage_key",
]

# Segments of letters, digits, '_' and '-' joined by '/': no dots, so no '..', no absolute path.
_KEY = re.compile(r"[A-Za-z0-9_-]+(?:/[A-Za-z0-9_-]+)*")
_KEY_MAX = 300  # evidence_files.storage_key


class InvalidStorageKeyError(ValueError):
    """A key that is not one of ours (or that would leave the store's root)."""


class StoredObjectMissingError(LookupError):
    """No bytes under this key."""


def new_storage_key() -> str:
    """A fresh key: ``ab/ab12…`` (random; two-character fan-out keeps directories small)."""
    token = uuid.uuid4().hex
    return f"{token[:2]}/{token}"


class EvidenceStore(Protocol):
    async def put(self, key: str, data: bytes) -> None:
        """Store ``data`` under ``key``, all or nothing."""

    async def open(self, key: str) -> AsyncIterator[bytes]:
        """The bytes under ``key`` in chunks; raises :class:`StoredObjectMissingError` at once
        (before the first chunk) when there are none."""

    async def delete(self, key: str) -> None:
        """Remove ``key``; a key that is already gone is not an error."""


class LocalDirStore:
    """Files under one directory, written atomically (temporary file, fsync, ``os.replace``)."""

    def __init__(self, root: Path, *, chunk_size: int = 64 * 1024) -> None:
        self.root = root.resolve()
        self._chunk_size = chunk_size

    def path_for(self, key: str) -> Path:
        if len(key) > _KEY_MAX or not _KEY.fullmatch(key):
            raise InvalidStorageKeyError(f"not a storage key: {key!r}")
        path = (self.root / key).resolve()
        # resolve() follows symlinks: a link planted inside the root must not lead out of it.
        if not path.is_relative_to(self.root) or path == self.root:
            raise InvalidStorageKeyError(f"storage key {key!r} leaves the store")
        return path

    async def put(self, key: str, data: bytes) -> None:
        await asyncio.to_thread(_write_atomically, self.path_for(key), data)

    async def open(self, key: str) -> AsyncIterator[bytes]:
        path = self.path_for(key)
        try:
            handle = await asyncio.to_thread(_open_for_reading, path)
        except (FileNotFoundError, IsADirectoryError):
            raise StoredObjectMissingError(key) from None
        return self._chunks(handle)

    async def _chunks(self, handle: BinaryIO) -> AsyncIterator[bytes]:
        try:
            while chunk := await asyncio.to_thread(handle.read, self._chunk_size):
                yield chunk
        finally:
            handle.close()

    async def delete(self, key: str) -> None:
        path = self.path_for(key)
        await asyncio.to_thread(path.unlink, missing_ok=True)


def _open_for_reading(path: Path) -> BinaryIO:
    return path.open("rb")


def _write_atomically(path: Path, data: bytes) -> None:
    # A reader (or a crash) sees the old state or the whole new file, never a partial one:
    # the temporary file lives in the same directory, so os.replace is a rename.
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=".incoming-", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, path)
    except BaseException:
        with suppress(FileNotFoundError):
            os.unlink(temporary)
        raise
    _fsync_directory(path.parent)


def _fsync_directory(directory: Path) -> None:
    # Makes the rename itself durable; not every platform can open a directory.
    with suppress(OSError):
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
