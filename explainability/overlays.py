"""Heatmap overlays for the viewer and reports: an OpenCV colour map blended onto the display
image, optionally with the finding's box, as PNG bytes. Imports no Django."""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

#: Strongest share of the colour map in the blend (where the heatmap is 1).
DEFAULT_ALPHA = 0.5


class OverlayError(ValueError):
    """The heatmap does not match the image, or the image cannot be encoded."""


def overlay_png(
    display: NDArray[np.uint8],
    heatmap: NDArray[np.float32],
    *,
    alpha: float = DEFAULT_ALPHA,
    box: tuple[int, int, int, int] | None = None,
    colormap: int | None = None,
) -> bytes:
    """PNG bytes (RGB, the display image's size) of ``heatmap`` blended on ``display``.

    Args:
        display: (rows, cols) uint8, 0 = black (``preprocess.display_image``).
        heatmap: (rows, cols) float in 0..1 (values outside are clipped).
        alpha: colour weight where the heatmap is 1; it fades to 0 where the map is 0, so
            cold regions keep the plain radiograph.
        box: (x0, y0, x1, y1) in the same pixels, drawn as a rectangle.
        colormap: an OpenCV colour map id; default ``cv2.COLORMAP_JET``.

    Raises:
        OverlayError: shapes differ or the PNG cannot be encoded.
    """
    import cv2

    if display.ndim != 2 or display.shape != heatmap.shape:
        raise OverlayError(f"display {display.shape} and heatmap {heatmap.shape} differ")
    heat = np.clip(np.nan_to_num(heatmap.astype(np.float32)), 0.0, 1.0)
    colour = cv2.applyColorMap(np.rint(heat * 255).astype(np.uint8), colormap or cv2.COLORMAP_JET)
    grey = cv2.cvtColor(display, cv2.COLOR_GRAY2BGR).astype(np.float32)
    weight = (alpha * heat)[..., None]
    blended = np.clip(grey * (1 - weight) + colour.astype(np.float32) * weight, 0, 255)
    image = np.ascontiguousarray(blended.astype(np.uint8))
    if box is not None:
        thickness = max(1, round(max(display.shape) / 400))
        cv2.rectangle(image, box[:2], (box[2] - 1, box[3] - 1), (0, 255, 255), thickness)
    ok, encoded = cv2.imencode(".png", image)
    if not ok:
        raise OverlayError("PNG encoding failed")
    return bytes(encoded.tobytes())
