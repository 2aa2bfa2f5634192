"""Pixel preprocessing shared by display, training and serving. Imports no Django.

The order follows PS3.3 C.11 (the grayscale pipeline): modality LUT (rescale slope and
intercept, or a Modality LUT Sequence), VOI LUT (a VOI LUT Sequence, or window centre/width),
then the presentation: MONOCHROME1 stores "higher is darker", so it is inverted to display
as MONOCHROME2.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, replace
from enum import StrEnum

import numpy as np
from numpy.typing import NDArray
from pydicom.dataset import Dataset
from pydicom.pixels import apply_modality_lut, apply_voi_lut

from inference.backends.base import NoFrontalImage
from inference.types import PreparedImage


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
    return np.clip(np.rint(display_float(ds, values, window) * 255.0), 0, 255).astype(np.uint8)


def display_float(
    ds: Dataset,
    values: NDArray[np.float32],
    window: Window | None = None,
) -> NDArray[np.float32]:
    """:func:`display_image` before quantisation: float32 (rows, columns), 0..1, 0 = black.

    The model sees this (no 8-bit rounding); the viewer sees its 8-bit version.
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
    return np.clip(scaled, 0.0, 1.0).astype(np.float32)


def _windowed(values: NDArray[np.float32], window: Window) -> NDArray[np.float32]:
    """Linear window (PS3.3 C.11.2.1.2 without the half-pixel detail) to 0..1."""
    low = window.center - window.width / 2.0
    return np.clip((values - low) / window.width, 0.0, 1.0).astype(np.float32)


# --- Model input: letterbox, normalise ------------------------------------------------------

#: Mean and standard deviation that :func:`normalise` maps to 0 and 1. Fixed constants (not
#: dataset statistics) so training and serving cannot drift apart.
PIXEL_MEAN = 0.5
PIXEL_STD = 0.25


def letterbox(
    image: NDArray[np.float32], size: int
) -> tuple[NDArray[np.float32], float, tuple[int, int]]:
    """Resize ``image`` (rows, columns) to fit a ``size`` x ``size`` square, keeping aspect.

    Returns ``(square, scale, (row_offset, column_offset))``: ``square`` is float32
    (size, size) with black (0) borders; an original pixel ``(r, c)`` lands at
    ``(r * scale + row_offset, c * scale + column_offset)``.
    """
    import cv2

    rows, cols = image.shape
    scale = size / max(rows, cols)
    new_rows, new_cols = max(1, round(rows * scale)), max(1, round(cols * scale))
    interpolation = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
    resized = cv2.resize(image, (new_cols, new_rows), interpolation=interpolation)
    square = np.zeros((size, size), dtype=np.float32)
    top, left = (size - new_rows) // 2, (size - new_cols) // 2
    square[top : top + new_rows, left : left + new_cols] = resized
    return square, scale, (top, left)


def prepare_image(ds: Dataset, *, size: int = 512, sop_uid: str = "") -> PreparedImage:
    """One DICOM image as a model input: modality LUT, VOI LUT or window, MONOCHROME1
    inversion (as :func:`display_image`, kept in float), then a letterbox to ``size``.

    Returns a :class:`PreparedImage` whose ``pixels`` are float32 (size, size) in 0..1,
    0 = black, with the scale and offset that map model pixels back to stored pixels.
    Raises ``PixelDataError`` (no usable image).
    """
    values = modality_values(ds)
    square, scale, offset = letterbox(display_float(ds, values), size)
    return PreparedImage(
        pixels=square,
        original_shape=(int(values.shape[0]), int(values.shape[1])),
        scale=scale,
        offset=offset,
        sop_uid=sop_uid or str(ds.get("SOPInstanceUID", "")),
        view_position=str(ds.get("ViewPosition", "") or ""),
    )


def normalise(pixels: NDArray[np.float32]) -> NDArray[np.float32]:
    """Model input from display pixels (0..1): ``(pixels - PIXEL_MEAN) / PIXEL_STD``, float32.

    The one normalisation shared by training and serving; any shape.
    """
    return ((np.asarray(pixels, dtype=np.float32) - PIXEL_MEAN) / PIXEL_STD).astype(np.float32)


# --- View selection -----------------------------------------------------------------------


class ViewKind(StrEnum):
    FRONTAL = "frontal"
    LATERAL = "lateral"
    OTHER = "other"  # oblique, decubitus, not an image, too small


#: Frontal chest films are nearly mirror-symmetric, laterals are not. Measured (64x64
#: correlation of the display image with its mirror): frontals 0.76-0.93 (NEMA RG1, SIIM,
#: NIH, IU CXR1900/3/7 PA), laterals 0.23 and 0.56 (IU CXR7/CXR1900 lateral).
FRONTAL_SYMMETRY_MIN = 0.66
#: Images smaller than this on a side are stubs or icons, never a radiograph to draft from.
MIN_IMAGE_SIDE = 64

_FRONTAL_POSITIONS = frozenset({"PA", "AP"})
_LATERAL_POSITIONS = frozenset({"LL", "RL", "LAT", "LATERAL"})
_OTHER_POSITIONS = frozenset({"RLO", "LLO", "RAO", "LAO", "RLD", "LLD"})
_LATERAL_WORDS = re.compile(r"\b(?:lat|lateral|ll|rl)\b", re.IGNORECASE)
_FRONTAL_WORDS = re.compile(
    r"\b(?:pa|ap|frontal|postero-?anterior|antero-?posterior)\b", re.IGNORECASE
)


@dataclass(frozen=True)
class ViewDecision:
    kind: ViewKind
    source: str  # "ViewPosition", "ViewCodeSequence", "SeriesDescription", "symmetry", ...


def view_from_metadata(ds: Dataset) -> ViewDecision | None:
    """The view the headers state (ViewPosition, then ViewCodeSequence code meanings, then
    free-text hints in SeriesDescription/ProtocolName/...); ``None`` when they are silent.

    ImageLaterality is not used: it names the side of a paired organ, not the projection.
    """
    position = str(ds.get("ViewPosition", "") or "").strip().upper()
    for names, kind in (
        (_FRONTAL_POSITIONS, ViewKind.FRONTAL),
        (_LATERAL_POSITIONS, ViewKind.LATERAL),
        (_OTHER_POSITIONS, ViewKind.OTHER),
    ):
        if position in names:
            return ViewDecision(kind, "ViewPosition")
    for item in ds.get("ViewCodeSequence", None) or []:
        meaning = str(item.get("CodeMeaning", "") or "").lower()
        if "lateral" in meaning:
            return ViewDecision(ViewKind.LATERAL, "ViewCodeSequence")
        if any(word in meaning for word in ("antero", "anterior", "postero", "frontal")):
            return ViewDecision(ViewKind.FRONTAL, "ViewCodeSequence")
        if "oblique" in meaning or "decubitus" in meaning:
            return ViewDecision(ViewKind.OTHER, "ViewCodeSequence")
    for keyword in ("SeriesDescription", "ProtocolName", "AcquisitionDeviceProcessingDescription"):
        text = str(ds.get(keyword, "") or "")
        if _LATERAL_WORDS.search(text):
            return ViewDecision(ViewKind.LATERAL, keyword)
        if _FRONTAL_WORDS.search(text):
            return ViewDecision(ViewKind.FRONTAL, keyword)
    return None


def mirror_symmetry(image: NDArray[np.float32]) -> float:
    """Correlation (-1..1) of a 64x64 copy of ``image`` with its left-right mirror."""
    import cv2

    small = cv2.resize(np.asarray(image, dtype=np.float32), (64, 64), interpolation=cv2.INTER_AREA)
    mirrored = small[:, ::-1]
    if float(small.std()) < 1e-6:
        return 0.0
    return float(np.corrcoef(small.ravel(), mirrored.ravel())[0, 1])


def classify_view(ds: Dataset) -> ViewDecision:
    """Frontal, lateral or other: from the headers, else from the image's mirror symmetry.

    Datasets without a decodable image, or smaller than :data:`MIN_IMAGE_SIDE`, are OTHER.
    """
    try:
        values = modality_values(ds)
    except PixelDataError:
        return ViewDecision(ViewKind.OTHER, "unreadable pixel data")
    if min(values.shape) < MIN_IMAGE_SIDE:
        return ViewDecision(ViewKind.OTHER, "too small")
    stated = view_from_metadata(ds)
    if stated is not None:
        return stated
    symmetric = mirror_symmetry(display_float(ds, values)) >= FRONTAL_SYMMETRY_MIN
    return ViewDecision(ViewKind.FRONTAL if symmetric else ViewKind.LATERAL, "symmetry")


def select_frontal(datasets: Sequence[Dataset]) -> list[Dataset]:
    """The study's usable images, frontal first (header-stated frontals before image-inferred
    ones), then laterals; oblique, decubitus and unusable images are left out.

    Raises:
        NoFrontalImage: no image qualifies as frontal (e.g. only laterals, only stubs).
    """
    decided = [(ds, classify_view(ds)) for ds in datasets]
    frontal = [ds for ds, d in decided if d.kind is ViewKind.FRONTAL and d.source != "symmetry"]
    frontal += [ds for ds, d in decided if d.kind is ViewKind.FRONTAL and d.source == "symmetry"]
    if not frontal:
        kinds = ", ".join(f"{d.kind.value} ({d.source})" for _, d in decided) or "no images"
        raise NoFrontalImage(f"no frontal chest image among: {kinds}")
    return frontal + [ds for ds, d in decided if d.kind is ViewKind.LATERAL]


def to_original(model_map: NDArray[np.float32], prepared: PreparedImage) -> NDArray[np.float32]:
    """A (size, size) map over the model input -> (rows, columns) over the stored image:
    the letterbox border is cut away and the rest resized (bilinear). float32 in, out."""
    import cv2

    rows, cols = prepared.original_shape
    top, left = prepared.offset
    height = max(1, round(rows * prepared.scale))
    width = max(1, round(cols * prepared.scale))
    inside = np.ascontiguousarray(model_map[top : top + height, left : left + width])
    resized = cv2.resize(inside.astype(np.float32), (cols, rows), interpolation=cv2.INTER_LINEAR)
    return np.asarray(resized, dtype=np.float32)


def resize_prepared(prepared: PreparedImage, size: int) -> PreparedImage:
    """``prepared`` at another model input size; scale and offset follow (letterboxing is
    linear, so this equals preparing at ``size`` up to resampling)."""
    import cv2

    current = prepared.pixels.shape[0]
    if prepared.pixels.shape == (size, size):
        return prepared
    factor = size / current
    interpolation = cv2.INTER_AREA if factor < 1 else cv2.INTER_LINEAR
    pixels = cv2.resize(prepared.pixels, (size, size), interpolation=interpolation)
    return replace(
        prepared,
        pixels=np.clip(pixels, 0.0, 1.0).astype(np.float32),
        scale=prepared.scale * factor,
        offset=(round(prepared.offset[0] * factor), round(prepared.offset[1] * factor)),
    )
