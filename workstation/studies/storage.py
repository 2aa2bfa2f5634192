"""Content-addressed DICOM file storage.

A stored file's path comes only from the SHA-256 of its dataset bytes
(``ab/cd/abcd....dcm`` under ``DICOM_STORAGE_DIR``), never from DICOM values, so no UID,
name or other header can steer a write outside the storage root. Files are written to a
temporary name, fsynced, renamed into place and the directory fsynced, so a file that exists
under its final name is complete.
"""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path

_HEX64 = re.compile(r"[0-9a-f]{64}")


class StorageError(OSError):
    """The file could not be written or read back (disk full, permissions, corruption)."""


@dataclass(frozen=True)
class StoredFile:
    sha256: str  # hex SHA-256 of the dataset bytes (after the File Meta Information)
    relative_path: str  # e.g. "ab/cd/abcd....dcm", relative to the storage root
    size_bytes: int  # size of the whole Part 10 file


def dataset_sha256(dataset_bytes: bytes) -> str:
    """The content hash that names a stored instance."""
    return hashlib.sha256(dataset_bytes).hexdigest()


def relative_path_for(sha256: str) -> str:
    """The storage path for a content hash; raises ``ValueError`` for anything but 64 hex chars."""
    if not _HEX64.fullmatch(sha256):
        raise ValueError(f"not a SHA-256 hex digest: {sha256!r}")
    return f"{sha256[:2]}/{sha256[2:4]}/{sha256}.dcm"


def resolve(root: Path, relative_path: str) -> Path:
    """The absolute path of a stored file; refuses anything that would leave ``root``."""
    candidate = (root / relative_path).resolve()
    if not candidate.is_relative_to(root.resolve()):
        raise ValueError(f"path {relative_path!r} is outside the storage root")
    return candidate


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def store_part10(root: Path, *, preamble_and_meta: bytes, dataset_bytes: bytes) -> StoredFile:
    """Write a Part 10 file durably under its content-hash path and return where it lies.

    ``preamble_and_meta`` is the 128-byte preamble, ``DICM`` and the File Meta group;
    ``dataset_bytes`` the dataset exactly as received. Writing content that is already stored
    is a no-op. Raises ``StorageError`` when the disk refuses.
    """
    sha256 = dataset_sha256(dataset_bytes)
    relative = relative_path_for(sha256)
    final = root / relative
    size = len(preamble_and_meta) + len(dataset_bytes)
    try:
        if final.exists() and final.stat().st_size == size:
            return StoredFile(sha256=sha256, relative_path=relative, size_bytes=size)
        final.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(dir=final.parent, prefix=".incoming-", suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(preamble_and_meta)
                handle.write(dataset_bytes)
                handle.flush()
                os.fsync(handle.fileno())
            Path(tmp_name).replace(final)
        except BaseException:
            Path(tmp_name).unlink(missing_ok=True)
            raise
        _fsync_dir(final.parent)
    except OSError as exc:
        raise StorageError(f"could not store instance {sha256[:12]}: {exc}") from exc
    return StoredFile(sha256=sha256, relative_path=relative, size_bytes=size)
