"""Grad-CAM of the reference model's detection head (captum ``LayerGradCam``).

For each requested label: the gradient of the label's image-only logit w.r.t. the encoder's
last spatial feature map (``model.encoder.feature_layer``), channel-averaged as weights, ReLU,
upsampled (bilinear) to the model input, scaled to 0..1 by its maximum, then mapped from the
letterboxed model input back onto the ORIGINAL image pixels. The detection head's context
term is additive, so it cannot change these gradients. Imports no Django.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import torch
from numpy.typing import NDArray

from inference.labels import LABELS, Label
from inference.models.reference import ReferenceModel
from inference.preprocess import normalise, to_original
from inference.types import PreparedImage

METHOD = "gradcam"


@dataclass(frozen=True)
class Attribution:
    """Where in the image the model looked for one label."""

    label: Label
    heatmap: NDArray[np.float32] = field(compare=False)  # (rows, cols) original pixels, 0..1
    model_heatmap: NDArray[np.float32] = field(compare=False)  # (size, size) model input, 0..1
    method: str = METHOD
    peak: float = 0.0  # Grad-CAM maximum before scaling (0: no positive evidence)


def _scaled(cam: NDArray[np.float32]) -> tuple[NDArray[np.float32], float]:
    peak = float(cam.max()) if cam.size else 0.0
    if not np.isfinite(peak) or peak <= 0:
        return np.zeros_like(cam, dtype=np.float32), 0.0
    return np.clip(cam / peak, 0.0, 1.0).astype(np.float32), peak


def gradcam(
    model: ReferenceModel, prepared: PreparedImage, labels: Sequence[Label]
) -> list[Attribution]:
    """One :class:`Attribution` per label, in the order given (one batched backward pass).

    ``prepared.pixels`` must be the model's input size (``model.config.image_size``).
    """
    from captum.attr import LayerAttribution, LayerGradCam

    if not labels:
        return []
    size = prepared.pixels.shape[0]
    image = torch.from_numpy(normalise(prepared.pixels))[None, None].to(model.device)
    batch = image.expand(len(labels), -1, -1, -1).contiguous()
    targets = [LABELS.index(label) for label in labels]
    model.eval()
    explainer = LayerGradCam(model.detection_logits, model.encoder.feature_layer)
    with torch.enable_grad():
        cams = explainer.attribute(batch, target=targets, relu_attributions=True)
    upsampled = LayerAttribution.interpolate(cams.detach(), (size, size), "bilinear")
    maps = upsampled[:, 0].float().cpu().numpy()
    attributions = []
    for label, model_map in zip(labels, maps, strict=True):
        scaled, peak = _scaled(model_map.astype(np.float32))
        original = np.clip(to_original(scaled, prepared), 0.0, 1.0).astype(np.float32)
        attributions.append(Attribution(label, original, scaled, METHOD, peak))
    return attributions
