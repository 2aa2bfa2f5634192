"""A bounding box from a heatmap: threshold relative to the maximum, keep the largest
connected component (8-connectivity, OpenCV). Imports no Django."""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

#: Pixels at or above this share of the heatmap's maximum belong to the finding.
RELATIVE_THRESHOLD = 0.5

Box = tuple[int, int, int, int]  # (x0, y0, x1, y1): x1/y1 exclusive, pixels of the heatmap


def box_from_heatmap(
    heatmap: NDArray[np.float32], *, relative_threshold: float = RELATIVE_THRESHOLD
) -> Box | None:
    """The box around the largest region where ``heatmap`` >= threshold * its maximum.

    Args:
        heatmap: (rows, cols) float, >= 0 (e.g. a Grad-CAM map in original image pixels).

    Returns:
        ``(x0, y0, x1, y1)`` in the heatmap's pixels (so original image pixels for a map
        from ``explainability.gradcam``), or ``None`` when the map has no positive value.
    """
    import cv2

    peak = float(np.max(heatmap)) if heatmap.size else 0.0
    if not np.isfinite(peak) or peak <= 0:
        return None
    mask = (heatmap >= relative_threshold * peak).astype(np.uint8)
    count, _, stats, _ = cv2.connectedComponentsWithStats(mask, connectivity=8)
    if count < 2:
        return None
    largest = 1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))
    x, y, width, height = (int(v) for v in stats[largest, :4])
    return (x, y, x + width, y + height)


def iou(a: Box, b: Box) -> float:
    """Intersection over union of two (x0, y0, x1, y1) boxes (exclusive ends)."""
    width = max(0, min(a[2], b[2]) - max(a[0], b[0]))
    height = max(0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = width * height
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0
