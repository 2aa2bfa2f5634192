"""The image model's side of fusion: image-only probabilities of every label and an image
embedding, from the reference model that the reference, retrieval and onnx backends load.

"Image-only" is the detection head with the empty context prompt, exactly as
``explainability.contribution`` defines the image's share. Imports no Django.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from numpy.typing import NDArray

from inference.labels import LABELS, Label
from inference.models.reference import NO_CONTEXT_PROMPT, ReferenceModel
from inference.preprocess import normalise, resize_prepared
from inference.types import PreparedImage


def reference_model_of(backend: object) -> ReferenceModel | None:
    """The reference model a backend drafts with (``None`` for backends without one, e.g. hf)."""
    for holder in (backend, getattr(backend, "detector", None)):
        model = getattr(holder, "model", None)
        if isinstance(model, ReferenceModel):
            return model
    return None


def _pixels(model: ReferenceModel, images: Sequence[PreparedImage]) -> torch.Tensor:
    size = model.config.image_size
    stacked = np.stack([normalise(resize_prepared(image, size).pixels) for image in images])
    return torch.from_numpy(stacked[:, None]).to(model.device)


@torch.no_grad()
def image_only_probabilities(
    model: ReferenceModel, images: Sequence[PreparedImage], batch_size: int = 32
) -> list[dict[Label, float]]:
    """Calibrated probabilities of every label per image, with no clinical context."""
    model.eval()
    out: list[dict[Label, float]] = []
    empty = model.encode_prompt(NO_CONTEXT_PROMPT)
    for start in range(0, len(images), batch_size):
        chunk = images[start : start + batch_size]
        features = model.encode(_pixels(model, chunk))
        context = model.context_embedding([empty] * len(chunk))
        probabilities = model.probabilities(model.detect(features, context)).float().cpu()
        out += [dict(zip(LABELS, row.tolist(), strict=True)) for row in probabilities]
    return out


@torch.no_grad()
def prompted_probabilities(
    model: ReferenceModel, images: Sequence[PreparedImage], prompts: Sequence[Sequence[str]]
) -> list[list[dict[Label, float]]]:
    """Calibrated probabilities of every label per image and per prompt of that image: the
    reference model's own use of the context (hybrid fusion through the prompt)."""
    model.eval()
    out: list[list[dict[Label, float]]] = []
    for image, image_prompts in zip(images, prompts, strict=True):
        if not image_prompts:
            out.append([])
            continue
        features = model.encode(_pixels(model, [image]))
        context = model.context_embedding([model.encode_prompt(p) for p in image_prompts])
        logits = model.detect(features.expand(len(image_prompts), -1, -1, -1), context)
        rows = model.probabilities(logits).float().cpu()
        out.append([dict(zip(LABELS, row.tolist(), strict=True)) for row in rows])
    return out


@torch.no_grad()
def image_embedding(model: ReferenceModel, image: PreparedImage) -> NDArray[np.float32]:
    """The encoder's globally pooled feature vector of one image: shape ``(C,)``, float32,
    L2-normalised (cosine distance between two studies is ``1 - a @ b``)."""
    model.eval()
    features = model.encode(_pixels(model, [image])).mean(dim=(2, 3))[0].float().cpu().numpy()
    norm = float(np.linalg.norm(features))
    return (features / norm if norm > 0 else features).astype(np.float32)
