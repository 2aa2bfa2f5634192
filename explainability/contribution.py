"""Per-finding modality contribution: how much each calibrated probability changes when the
clinical context is removed (SPEC section 2, "per-modality contribution").

Decision: the reference model's detection head sees a pooled embedding of the context prompt
(``ReferenceModel.detect``), so the contribution is measured where the finding is decided:
``p(image, context) - p(image, "no clinical information")``. Positive: the context raised the
probability. The image's share is the rest, ``p(image, no context)``. Imports no Django.
"""

from __future__ import annotations

import torch

from inference.labels import LABELS, Label
from inference.models.reference import NO_CONTEXT_PROMPT, ReferenceModel
from inference.types import ClinicalContext


@torch.no_grad()
def context_contribution(
    model: ReferenceModel,
    pixels: torch.Tensor,
    context: ClinicalContext,
    *,
    features: torch.Tensor | None = None,
) -> dict[Label, float]:
    """Probability with context minus probability without, per label (-1..1).

    Args:
        pixels: (1, 1, S, S) normalised model input (ignored when ``features`` is given).
        features: the encoder's feature map of that image, to avoid encoding it twice.
    """
    model.eval()
    features = model.encode(pixels) if features is None else features
    prompts = [model.encode_prompt(context.as_prompt()), model.encode_prompt(NO_CONTEXT_PROMPT)]
    both = features.expand(2, -1, -1, -1)
    probabilities = model.probabilities(model.detect(both, model.context_embedding(prompts)))
    difference = (probabilities[0] - probabilities[1]).float().cpu().tolist()
    return {label: float(d) for label, d in zip(LABELS, difference, strict=True)}
