"""Pixel preprocessing shared by display, training and serving. Imports no Django.

The order follows PS3.3 C.11 (the grayscale pipeline): modality LUT (rescale slope and
intercept, or a Modality LUT Sequence), VOI LUT (a VOI LUT Sequence, or window centre/width),
then the presentation: MONOCHROME1 stores "higher is darker", so it is inverted to display
as MONOCHROME2.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from pydicom.dataset import Dataset
from pydicom.pixels import apply_modality_lut, apply_voi_lut


class PixelDataError(ValueError):
    """The dataset has no usable single-channel image (absent, undecodable or degenerate)."""


@dataclass(frozen=True)
class Window:
    center: float
    width: float  # > 0


def modality_values(ds: Dataset, frame: int = 0) -> NDArray[np.float32]:
    """The frame's values after the modality LUT.

    Returns a 2-D float32 array (rows, columns) in the modality's units (e.g. HU for CT, raw
    detector values for CR). Colour images become their luminance. Raises ``PixelDataError``.
    """
    try:
        pixels = ds.pixel_array
    except Exception as exc:  # pydicom/pylibjpeg raise many types on corrupt pixel data
        raise PixelDataError(f"pixel data cannot be decoded: {exc}") from exc
    samples = int(ds.get("SamplesPerPixel", 1) or 1)
    frames = int(ds.get("NumberOfFrames", 1) or 1)
    if frames > 1:
        if not 0 <= frame < frames:
            raise PixelDataError(f"frame {frame} out of range (0..{frames - 1})")
        pixels = pixels[frame]
    if samples == 3:
        rgb = pixels.astype(np.float32)
        if str(ds.get("PhotometricInterpretation", "")).startswith("YBR"):
            from pydicom.pixels import convert_color_space

            rgb = convert_color_space(pixels, str(ds.PhotometricInterpretation), "RGB").astype(
                np.float32
            )
        return (0.299 * rgb[..., 0] + 0.587 * rgb[..., 1] + 0.114 * rgb[..., 2]).astype(np.float32)
    if pixels.ndim != 2 or min(pixels.shape) < 1:
        raise PixelDataError(f"expected a 2-D image, got shape {pixels.shape}")
    values = apply_modality_lut(pixels, ds) if samples == 1 else pixels
    return np.asarray(values, dtype=np.float32)


def default_window(ds: Dataset, values: NDArray[np.float32]) -> Window:
    """The window the dataset asks for (first WindowCenter/Width), else a robust 0.5-99.5%
    percentile window of ``values`` (the image itself)."""
    center, width = ds.get("WindowCenter"), ds.get("WindowWidth")
    try:
        if center is not None and width is not None:
            c = float(
                center[0] if hasattr(center, "__len__") and not isinstance(center, str) else center
            )
            w = float(
                width[0] if hasattr(width, "__len__") and not isinstance(width, str) else width
            )
            if w > 0 and np.isfinite(c) and np.isfinite(w):
                return Window(c, w)
    except (TypeError, ValueError, IndexError):
        pass
    low, high = np.percentile(values, [0.5, 99.5])
    return Window(float(low + high) / 2.0, max(float(high - low), 1.0))


def is_inverted(ds: Dataset) -> bool:
    """MONOCHROME1: higher values display darker."""
    return str(ds.get("PhotometricInterpretation", "")).strip().upper() == "MONOCHROME1"


def display_image(
    ds: Dataset,
    values: NDArray[np.float32],
    window: Window | None = None,
) -> NDArray[np.uint8]:
    """8-bit display image (rows, columns), 0 = black, as a radiologist expects to see it.

    With no explicit ``window`` the dataset's VOI LUT Sequence is applied when present,
    else its window or a percentile window. MONOCHROME1 is inverted.
    """
    if window is None and "VOILUTSequence" in ds:
        try:
            voi = np.asarray(apply_voi_lut(values, ds), dtype=np.float32)
            low, high = float(voi.min()), float(voi.max())
            scaled = (voi - low) / max(high - low, 1e-6)
        except (ValueError, TypeError, IndexError, AttributeError):
            scaled = _windowed(values, default_window(ds, values))
    else:
        scaled = _windowed(values, window or default_window(ds, values))
    if is_inverted(ds):
        scaled = 1.0 - scaled
    return np.clip(np.rint(scaled * 255.0), 0, 255).astype(np.uint8)


def _windowed(values: NDArray[np.float32], window: Window) -> NDArray[np.float32]:
    """Linear window (PS3.3 C.11.2.1.2 without the half-pixel detail) to 0..1."""
    low = window.center - window.width / 2.0
    return np.clip((values - low) / window.width, 0.0, 1.0).astype(np.float32)
