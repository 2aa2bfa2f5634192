"""WADO-RS payloads read from stored instances: Part 10 files, DICOM JSON metadata, frames.

Files are served as stored when the client accepts their transfer syntax (``transfer-syntax=*``
or the stored one); otherwise they are transcoded to Explicit VR Little Endian, the PS3.18
default. Frames are native little-endian pixels (``application/octet-stream``) unless the
client asks for the stored compressed encoding's own media type (``image/jp2``, ...).
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pydicom
from django.conf import settings
from pydicom import uid as dicom_uid
from pydicom.dataset import Dataset
from pydicom.encaps import generate_frames
from pydicom.pixels import pixel_array

from workstation.studies.models import Instance
from workstation.studies.storage import resolve

EXPLICIT_LE = str(dicom_uid.ExplicitVRLittleEndian)
NATIVE = frozenset(
    {
        str(dicom_uid.ImplicitVRLittleEndian),
        EXPLICIT_LE,
        str(dicom_uid.ExplicitVRBigEndian),
        str(dicom_uid.DeflatedExplicitVRLittleEndian),
    }
)
# PS3.18 Table 8.7.3-5: the media type of a compressed frame, by its transfer syntax.
FRAME_MEDIA_TYPES: dict[str, str] = {
    str(dicom_uid.JPEGBaseline8Bit): "image/jpeg",
    str(dicom_uid.JPEGExtended12Bit): "image/jpeg",
    str(dicom_uid.JPEGLossless): "image/jpeg",
    str(dicom_uid.JPEGLosslessSV1): "image/jpeg",
    str(dicom_uid.JPEGLSLossless): "image/jls",
    str(dicom_uid.JPEGLSNearLossless): "image/jls",
    str(dicom_uid.JPEG2000Lossless): "image/jp2",
    str(dicom_uid.JPEG2000): "image/jp2",
}


class RetrieveError(ValueError):
    """The stored object cannot give what was asked (no pixel data, no such frame, a file
    that no longer decodes); ``status`` is the HTTP status to answer."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


def stored_path(instance: Instance) -> Path:
    return resolve(Path(settings.DICOM_STORAGE_DIR), instance.storage_path)


def _read(instance: Instance, *, pixels: bool = True) -> Dataset:
    try:
        return pydicom.dcmread(stored_path(instance), stop_before_pixels=not pixels)
    except (OSError, pydicom.errors.InvalidDicomError) as exc:
        raise RetrieveError(f"stored instance unreadable: {exc}", status=500) from exc


def instance_part10(instance: Instance, *, transfer_syntax: str | None) -> bytes:
    """The instance as a Part 10 file: as stored (``None`` or its own syntax), or transcoded
    to Explicit VR Little Endian. Raises ``RetrieveError``."""
    if transfer_syntax is None or transfer_syntax == instance.transfer_syntax_uid:
        return stored_path(instance).read_bytes()
    if transfer_syntax != EXPLICIT_LE:
        raise RetrieveError(f"transfer syntax {transfer_syntax} is not offered", status=406)
    ds = _read(instance)
    try:
        if instance.transfer_syntax_uid not in NATIVE:
            # A change of encoding, not of content: the instance keeps its UID.
            ds.decompress(generate_instance_uid=False)
        ds.file_meta.TransferSyntaxUID = dicom_uid.ExplicitVRLittleEndian
        buffer = io.BytesIO()
        ds.save_as(buffer, enforce_file_format=True)
    except Exception as exc:  # pixel decoders raise many types on damaged data
        raise RetrieveError(f"instance cannot be transcoded: {str(exc)[:200]}", 500) from exc
    return buffer.getvalue()


def instance_metadata(instance: Instance, *, instance_url: str) -> dict[str, Any]:
    """The instance as DICOM JSON (PS3.18 F.2) without its pixels: Pixel Data is a
    BulkDataURI naming the frames resource."""
    ds = _read(instance, pixels=False)
    body: dict[str, Any] = ds.to_json_dict(suppress_invalid_tags=True)
    if instance.rows:
        frames = int(ds.get("NumberOfFrames") or 1)
        numbers = ",".join(str(n) for n in range(1, frames + 1))
        vr = "OW" if int(ds.get("BitsAllocated") or 8) > 8 else "OB"
        if instance.transfer_syntax_uid not in NATIVE:
            vr = "OB"
        body["7FE00010"] = {"vr": vr, "BulkDataURI": f"{instance_url}/frames/{numbers}"}
    body["00083002"] = {"vr": "UI", "Value": [instance.transfer_syntax_uid]}
    body["00081190"] = {"vr": "UR", "Value": [instance_url]}
    return body


@dataclass(frozen=True)
class Frame:
    content_type: str
    data: bytes


def frame_numbers_parse(text: str) -> list[int]:
    """``1,3,4`` -> [1, 3, 4]; raises ``RetrieveError`` for anything else."""
    try:
        numbers = [int(part) for part in text.split(",")]
    except ValueError:
        raise RetrieveError(f"{text[:40]!r} is not a list of frame numbers") from None
    if not numbers or min(numbers) < 1 or len(numbers) > 10_000:
        raise RetrieveError("frame numbers start at 1")
    return numbers


def _native_frame(ds: Dataset, index: int) -> bytes:
    array = pixel_array(ds, index=index, as_rgb=False)
    bits = int(ds.BitsAllocated)
    if bits not in (8, 16, 32):
        raise RetrieveError(f"{bits}-bit pixels are not served as frames", status=406)
    signed = int(ds.get("PixelRepresentation", 0)) == 1
    dtype = np.dtype(f"<{'i' if signed else 'u'}{bits // 8}")
    return np.ascontiguousarray(array).astype(dtype).tobytes()


def instance_frames(instance: Instance, numbers: list[int], *, encapsulated: bool) -> list[Frame]:
    """The frames ``numbers`` (1-based): encapsulated as stored when ``encapsulated`` and the
    stored syntax is compressed, else native little-endian pixels. Raises ``RetrieveError``
    (404 for a frame the instance does not have)."""
    if not instance.rows:
        raise RetrieveError("the instance has no pixel data", status=404)
    ds = _read(instance)
    count = int(ds.get("NumberOfFrames") or 1)
    beyond = [n for n in numbers if n > count]
    if beyond:
        raise RetrieveError(f"frame {beyond[0]} does not exist (the instance has {count})", 404)
    stored = instance.transfer_syntax_uid
    try:
        if encapsulated and stored in FRAME_MEDIA_TYPES:
            frames = list(generate_frames(ds.PixelData, number_of_frames=count))
            media = f"{FRAME_MEDIA_TYPES[stored]}; transfer-syntax={stored}"
            return [Frame(media, frames[n - 1]) for n in numbers]
        media = f"application/octet-stream; transfer-syntax={EXPLICIT_LE}"
        return [Frame(media, _native_frame(ds, n - 1)) for n in numbers]
    except RetrieveError:
        raise
    except Exception as exc:  # pixel decoders raise many types on damaged data
        raise RetrieveError(f"pixel data cannot be decoded: {str(exc)[:200]}", 500) from exc
