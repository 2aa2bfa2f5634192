"""Rendering stored instances for the viewer: windowed 8-bit PNGs and raw 16-bit PNGs."""

from __future__ import annotations

import io
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
import pydicom
from django.conf import settings
from numpy.typing import NDArray
from PIL import Image
from pydicom.dataset import Dataset

from inference.preprocess import (
    PixelDataError,
    Window,
    default_window,
    display_image,
    modality_values,
)
from inference.safe_decode import read_for_pixels
from workstation.studies.models import Instance
from workstation.studies.storage import resolve

MAX_RENDER_SIZE = 4096


@dataclass(frozen=True)
class RenderedFrame:
    png: bytes
    window: Window
    inverted: bool
    value_offset: float  # raw variant: stored value = modality value + offset
    rows: int
    columns: int


@lru_cache(maxsize=8)
def _decoded(path: str, sha256: str) -> tuple[Dataset, NDArray[np.float32]]:
    # Keyed by content hash too: a lossless re-send replaces the file behind an instance.
    ds = read_for_pixels(Path(path))  # compressed pixels are decoded in a limited child
    return ds, modality_values(ds)


def _instance_pixels(instance: Instance) -> tuple[Dataset, NDArray[np.float32]]:
    path = resolve(Path(settings.DICOM_STORAGE_DIR), instance.storage_path)
    try:
        return _decoded(str(path), instance.sha256)
    except (OSError, pydicom.errors.InvalidDicomError) as exc:
        raise PixelDataError(f"stored file unreadable: {exc}") from exc


def _fit(image: Image.Image, size: int | None) -> Image.Image:
    if size and max(image.size) > size:
        scale = size / max(image.size)
        new = (max(1, round(image.size[0] * scale)), max(1, round(image.size[1] * scale)))
        return image.resize(
            new, Image.Resampling.LANCZOS if image.mode == "L" else Image.Resampling.BILINEAR
        )
    return image


def frame_render(
    *, instance: Instance, window: Window | None, size: int | None, raw: bool
) -> RenderedFrame:
    """The instance's first frame as PNG: windowed 8-bit, or raw 16-bit for client windowing.

    ``size`` bounds the longer side in pixels (aspect kept). Raises ``PixelDataError``.
    """
    ds, values = _instance_pixels(instance)
    used_window = window or default_window(ds, values)
    inverted = str(ds.get("PhotometricInterpretation", "")).strip().upper() == "MONOCHROME1"
    offset = 0.0
    if raw:
        low = float(values.min())
        span = float(values.max()) - low
        if span > 65535:
            raise PixelDataError("value range exceeds 16 bits; use the windowed rendering")
        offset = -low
        image = Image.fromarray((values + offset).astype(np.float32), mode="F")
        image = _fit(image, size)
        array16 = np.clip(np.rint(np.asarray(image)), 0, 65535).astype(np.uint16)
        image = Image.fromarray(array16)
    else:
        image = _fit(Image.fromarray(display_image(ds, values, window)), size)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", compress_level=1)
    return RenderedFrame(
        png=buffer.getvalue(),
        window=used_window,
        inverted=inverted,
        value_offset=offset,
        rows=int(values.shape[0]),
        columns=int(values.shape[1]),
    )
