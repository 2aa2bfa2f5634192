"""Fit and evaluate the fusion model on context-dependent phantoms (the command
``manage.py train_fusion`` is a thin wrapper). Imports no Django.

Images are split, not cases: the held-out set's images were never seen in fitting, so the
figures measure generalisation to new images *and* new contexts. Three things are compared
per label on the held-out set: the image model's own probability, an image-only logistic
recalibration fitted on the same cases (the fair baseline: same family, no context), and the
fusion model. All figures are on phantoms: they say nothing about clinical performance.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from inference.datasets.context_phantom import TARGETS, ContextCase, context_cases, image_spec
from inference.datasets.phantom import render_phantom, to_dicom
from inference.fusion.fit import FusionCase, fit_fusion
from inference.fusion.image import image_only_probabilities
from inference.fusion.inputs import InputGroup
from inference.fusion.metrics import summary
from inference.fusion.model import FusionModel
from inference.labels import Label
from inference.models.reference import ReferenceModel
from inference.preprocess import prepare_image

TRAINED_ON = (
    "context-dependent phantoms (inference.datasets.context_phantom): rendered phantom "
    "radiographs scored by the image model, each paired with sampled clinical contexts"
)


@dataclass(frozen=True)
class FusionTraining:
    model: FusionModel
    report: dict[str, Any]  # per label: {"image_model", "image_only_fit", "fusion"} summaries


def phantom_fusion_cases(
    model: ReferenceModel,
    *,
    first_seed: int,
    images: int,
    contexts_per_image: int,
    render_size: int = 256,
) -> list[tuple[ContextCase, FusionCase]]:
    """Render ``images`` phantoms, score each once with the image model (no context), and
    pair each with ``contexts_per_image`` contexts."""
    specs = [
        image_spec(seed, (render_size, render_size))
        for seed in range(first_seed, first_seed + images)
    ]
    prepared = [
        prepare_image(to_dicom(render_phantom(spec)), size=model.config.image_size)
        for spec in specs
    ]
    probabilities = image_only_probabilities(model, prepared)
    out = []
    for spec, image_probabilities in zip(specs, probabilities, strict=True):
        for case in context_cases(spec, contexts_per_image, seed=first_seed):
            out.append((case, FusionCase(image_probabilities, case.inputs, case.targets)))
    return out


def evaluate(
    fusion: FusionModel, baseline: FusionModel, cases: Sequence[FusionCase]
) -> dict[str, Any]:
    """Held-out figures per label (AUC, ECE, Brier of each of the three scores)."""
    report: dict[str, Any] = {}
    for label in fusion.labels:
        known = [c for c in cases if label in c.targets]
        y = np.array([float(c.targets[label]) for c in known])
        if len(known) == 0 or y.min() == y.max():
            continue
        raw = np.array([c.image_probabilities[label] for c in known])
        base = np.array(
            [
                baseline.fuse(label, c.image_probabilities, c.inputs).adjusted_probability
                for c in known
            ]
        )
        fused = np.array(
            [
                fusion.fuse(label, c.image_probabilities, c.inputs).adjusted_probability
                for c in known
            ]
        )
        report[label.value] = {
            "image_model": summary(raw, y),
            "image_only_fit": summary(base, y),
            "fusion": summary(fused, y),
        }
    return report


def train_fusion_model(
    model: ReferenceModel,
    *,
    images: int = 300,
    held_out_images: int = 100,
    contexts_per_image: int = 4,
    seed: int = 10_000,
    render_size: int = 256,
    log: Callable[[str], None] = print,
) -> FusionTraining:
    """Fit on ``images`` phantoms x contexts, evaluate on ``held_out_images`` others."""
    log(f"scoring {images + held_out_images} phantoms with the image model ...")
    fitting = phantom_fusion_cases(
        model,
        first_seed=seed,
        images=images,
        contexts_per_image=contexts_per_image,
        render_size=render_size,
    )
    checking = phantom_fusion_cases(
        model,
        first_seed=seed + images,
        images=held_out_images,
        contexts_per_image=contexts_per_image,
        render_size=render_size,
    )
    cases = [fusion_case for _, fusion_case in fitting]
    held_out = [fusion_case for _, fusion_case in checking]
    labels: Sequence[Label] = TARGETS
    fusion = fit_fusion(cases, labels, trained_on=TRAINED_ON)
    baseline = fit_fusion(cases, labels, groups=frozenset({InputGroup.IMAGE}))
    report = evaluate(fusion, baseline, held_out)
    metrics = {
        "held_out": report,
        "fit_cases": len(cases),
        "held_out_cases": len(held_out),
        "contexts_per_image": contexts_per_image,
        "note": "phantom figures; not a clinical performance claim",
    }
    fitted = FusionModel(fusion.labels, metrics, TRAINED_ON)
    return FusionTraining(fitted, report)
