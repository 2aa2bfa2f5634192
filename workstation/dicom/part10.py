"""Splitting and writing the DICOM Part 10 envelope (preamble, ``DICM``, File Meta group)."""

from __future__ import annotations

import io
from dataclasses import dataclass

from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.filebase import DicomBytesIO
from pydicom.filereader import read_dataset, read_preamble
from pydicom.filewriter import write_file_meta_info
from pydicom.tag import BaseTag


class Part10Error(ValueError):
    """Not a DICOM Part 10 file: no preamble, no ``DICM`` prefix or a broken File Meta group."""


@dataclass(frozen=True)
class Part10:
    file_meta: FileMetaDataset
    dataset_bytes: bytes  # everything after the File Meta group, as given


def _not_group_2(tag: BaseTag, vr: str | None, length: int) -> bool:
    return tag.group != 2


def split_part10(data: bytes) -> Part10:
    """Separate a Part 10 file into its File Meta and its dataset bytes.

    Raises ``Part10Error`` when there is no preamble/``DICM`` or the meta group lacks the
    Transfer Syntax, Media Storage SOP Class or Media Storage SOP Instance UID.
    """
    if len(data) < 132 or data[128:132] != b"DICM":
        raise Part10Error("not a DICOM Part 10 file: no 128-byte preamble and 'DICM' prefix")
    stream = io.BytesIO(data)
    try:
        read_preamble(stream, False)
        meta = read_dataset(
            stream, is_implicit_VR=False, is_little_endian=True, stop_when=_not_group_2
        )
        offset = stream.tell()
        file_meta = FileMetaDataset(meta)
        missing = [
            keyword
            for keyword in (
                "TransferSyntaxUID",
                "MediaStorageSOPClassUID",
                "MediaStorageSOPInstanceUID",
            )
            if not file_meta.get(keyword)
        ]
    except Exception as exc:  # pydicom raises many types on a corrupt meta group
        raise Part10Error(f"File Meta Information unreadable: {exc}") from exc
    if missing:
        raise Part10Error(f"File Meta Information lacks {', '.join(missing)}")
    return Part10(file_meta=file_meta, dataset_bytes=data[offset:])


def encode_preamble_and_meta(file_meta: Dataset) -> bytes:
    """A clean preamble, ``DICM`` and File Meta group for a stored file.

    Only the three identifying elements are taken from ``file_meta``; the rest (group
    length, version, implementation UID) are written by pydicom.
    """
    clean = FileMetaDataset()
    clean.MediaStorageSOPClassUID = file_meta.MediaStorageSOPClassUID
    clean.MediaStorageSOPInstanceUID = file_meta.MediaStorageSOPInstanceUID
    clean.TransferSyntaxUID = file_meta.TransferSyntaxUID
    buffer = DicomBytesIO()
    buffer.write(b"\x00" * 128 + b"DICM")
    write_file_meta_info(buffer, clean, enforce_standard=True)
    return buffer.getvalue()
