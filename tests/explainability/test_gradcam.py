"""explainability: Grad-CAM finds the synthetic lesion; boxes, overlays, contribution."""

from __future__ import annotations

import io

import numpy as np
import pytest
import torch
from PIL import Image

from explainability.boxes import box_from_heatmap, iou
from explainability.contribution import context_contribution
from explainability.gradcam import gradcam
from explainability.overlays import OverlayError, overlay_png
from inference.labels import LABELS
from inference.models.reference import NO_CONTEXT_PROMPT
from inference.preprocess import letterbox, normalise
from inference.types import ClinicalContext, PreparedImage
from tests.inference.models.synthetic import LESION, chest, trained_tiny, with_disc

PAD = 16  # columns of body added on the right: the original is 64 x 80, letterboxed


def _lesion_case(seed: int) -> tuple[PreparedImage, tuple[int, int, int, int], tuple[int, int]]:
    """A new lesion image, made non-square so Grad-CAM must undo the letterbox."""
    rng = np.random.default_rng(seed)
    image, disc = with_disc(chest(rng), rng)
    wide = np.concatenate([image, np.full((64, PAD), 0.55, dtype=np.float32)], axis=1)
    square, scale, offset = letterbox(wide, 64)
    prepared = PreparedImage(square, wide.shape, scale, offset)
    return prepared, disc.box, (disc.col, disc.row)


def test_it_puts_the_grad_cam_box_on_the_lesion() -> None:
    model = trained_tiny().model
    hits, ious, areas = 0, [], []
    for seed in range(100, 112):
        prepared, truth, (cx, cy) = _lesion_case(seed)
        (attribution,) = gradcam(model, prepared, [LESION])
        assert attribution.heatmap.shape == (64, 64 + PAD)
        assert attribution.heatmap.dtype == np.float32
        assert attribution.heatmap.min() >= 0.0 and attribution.heatmap.max() <= 1.0
        box = box_from_heatmap(attribution.heatmap)
        assert box is not None
        ious.append(iou(box, truth))
        hits += box[0] <= cx < box[2] and box[1] <= cy < box[3]
        areas.append((box[2] - box[0]) * (box[3] - box[1]) / (64 * (64 + PAD)))
    print(
        f"Grad-CAM: disc centre in box {hits}/12, median IoU {np.median(ious):.2f}, "
        f"median box area {np.median(areas):.0%} of the image"
    )
    assert hits >= 9 or np.median(ious) > 0.3
    assert np.median(areas) < 0.4  # a box, not the whole film


def test_it_explains_several_labels_in_one_pass() -> None:
    prepared, _, _ = _lesion_case(1)
    labels = [LESION, LABELS[0], LABELS[-1]]
    attributions = gradcam(trained_tiny().model, prepared, labels)
    assert [a.label for a in attributions] == labels
    assert gradcam(trained_tiny().model, prepared, []) == []


def test_it_takes_the_largest_region_as_the_box() -> None:
    heatmap = np.zeros((40, 60), dtype=np.float32)
    heatmap[5:10, 5:10] = 1.0  # small, hottest
    heatmap[20:35, 30:50] = 0.8  # large
    assert box_from_heatmap(heatmap) == (30, 20, 50, 35)
    assert box_from_heatmap(np.zeros((8, 8), dtype=np.float32)) is None


def test_it_overlays_a_png_of_the_original_size() -> None:
    display = (np.arange(50 * 70).reshape(50, 70) % 256).astype(np.uint8)
    heatmap = np.zeros((50, 70), dtype=np.float32)
    heatmap[10:20, 30:40] = 1.0
    png = overlay_png(display, heatmap, box=(30, 10, 40, 20))
    assert png.startswith(b"\x89PNG\r\n\x1a\n")
    decoded = Image.open(io.BytesIO(png))
    assert decoded.size == (70, 50) and decoded.mode == "RGB"
    with pytest.raises(OverlayError):
        overlay_png(display, heatmap[:, :10])


def test_it_measures_context_contribution_as_a_probability_difference() -> None:
    model = trained_tiny().model
    prepared, _, _ = _lesion_case(3)
    pixels = torch.from_numpy(normalise(prepared.pixels))[None, None]
    context = ClinicalContext(age_years=70, sex="M", indication="follow-up nodule")
    contribution = context_contribution(model, pixels, context)
    with torch.no_grad():
        full, empty = model.probabilities(
            model.detection_logits(
                pixels.expand(2, -1, -1, -1),
                [model.encode_prompt(context.as_prompt()), model.encode_prompt(NO_CONTEXT_PROMPT)],
            )
        )
    index = LABELS.index(LESION)
    assert contribution[LESION] == pytest.approx(float(full[index] - empty[index]), abs=1e-5)
    assert all(-1.0 <= v <= 1.0 for v in contribution.values())
    no_context = context_contribution(model, pixels, ClinicalContext())
    assert all(abs(v) < 1e-6 for v in no_context.values())
