"""Fit and evaluate the fusion model on context-dependent phantoms (the command
``manage.py train_fusion`` is a thin wrapper). Imports no Django.

Images are split, not cases: the held-out set's images were never seen in fitting, so the
figures measure generalisation to new images *and* new contexts. Four things are compared
per label on the held-out set: the image model's own probability, an image-only logistic
recalibration fitted on the same cases (the fair baseline: same family, no context), the
image model prompted with the case's context (hybrid fusion: its detection head reads the
prompt, labs included) and the fusion model (late fusion). Each fit's penalty is chosen by
grouped cross-validation on the fitting cases, and a label's fusion model is kept only
where its cross-validated AUC is at least the image-only fit's (:func:`label_selection`):
the held-out set decides nothing, so its figures are unbiased estimates for new images.
All figures are on phantoms: they say nothing about clinical performance.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from inference.datasets.context_phantom import (
    TARGETS,
    ContextCase,
    context_cases,
    image_spec,
    prompt_context,
)
from inference.datasets.phantom import render_phantom, to_dicom
from inference.fusion.fit import CrossValidation, FusionCase, cross_validate, fit_fusion
from inference.fusion.image import image_only_probabilities, prompted_probabilities
from inference.fusion.inputs import InputGroup
from inference.fusion.metrics import auc, summary
from inference.fusion.model import FusionModel
from inference.labels import Label
from inference.models.reference import ReferenceModel
from inference.preprocess import prepare_image

TRAINED_ON = (
    "context-dependent phantoms (inference.datasets.context_phantom): rendered phantom "
    "radiographs scored by the image model, each paired with sampled clinical contexts"
)


@dataclass(frozen=True)
class PhantomCase:
    """One context case with the image model's scores: ``fusion`` (image-only
    probabilities, inputs, truth) and ``prompted`` (the model's probabilities with the
    case's context as its prompt)."""

    context: ContextCase
    fusion: FusionCase
    prompted: dict[Label, float]


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
) -> list[PhantomCase]:
    """Render ``images`` phantoms, score each with the image model without context and
    with each of its ``contexts_per_image`` contexts as the prompt."""
    specs = [
        image_spec(seed, (render_size, render_size))
        for seed in range(first_seed, first_seed + images)
    ]
    prepared = [
        prepare_image(to_dicom(render_phantom(spec)), size=model.config.image_size)
        for spec in specs
    ]
    probabilities = image_only_probabilities(model, prepared)
    contexts = [context_cases(spec, contexts_per_image, seed=first_seed) for spec in specs]
    prompted = prompted_probabilities(
        model,
        prepared,
        [[prompt_context(case.inputs).as_prompt() for case in cases] for cases in contexts],
    )
    out = []
    rows = zip(specs, probabilities, contexts, prompted, strict=True)
    for spec, image_probabilities, cases, scored in rows:
        for case, with_prompt in zip(cases, scored, strict=True):
            fusion_case = FusionCase(
                image_probabilities, case.inputs, case.targets, image_key=str(spec.seed)
            )
            out.append(PhantomCase(case, fusion_case, with_prompt))
    return out


def cross_validation_report(
    labels: Sequence[Label], cases: Sequence[FusionCase]
) -> tuple[dict[str, Any], dict[Label, float], dict[Label, float]]:
    """Per label, the grouped cross-validation of the fusion model and of the image-only fit
    on the fitting cases: the chosen penalty, out-of-fold log-loss and AUC of each. Returns
    the report and the chosen penalties (fusion, image-only)."""
    report: dict[str, Any] = {}
    fused_penalty: dict[Label, float] = {}
    image_penalty: dict[Label, float] = {}

    def row(cv: CrossValidation) -> dict[str, float]:
        return {
            "penalty": cv.penalty,
            "log_loss": round(cv.log_loss, 4),
            "auc": round(auc(cv.out_of_fold, cv.targets), 4),
        }

    for label in labels:
        fused = cross_validate(label, cases)
        image_only = cross_validate(label, cases, frozenset({InputGroup.IMAGE}))
        if fused is None or image_only is None:
            continue
        fused_penalty[label], image_penalty[label] = fused.penalty, image_only.penalty
        report[label.value] = {"fusion": row(fused), "image_only_fit": row(image_only)}
    return report, fused_penalty, image_penalty


def label_selection(cross_validated: dict[str, Any]) -> tuple[set[Label], dict[str, str]]:
    """Labels whose fusion model ranks the fitting cases, out of fold, at least as well as
    the image-only fit (AUC): only those are adjusted by context when drafting; the others
    pass the image's probability through. Returns the kept labels and, per dropped label,
    why (a label the context does not inform can still be over-fitted by it)."""
    kept: set[Label] = set()
    dropped: dict[str, str] = {}
    for name, rows in cross_validated.items():
        fused, image_only = rows["fusion"]["auc"], rows["image_only_fit"]["auc"]
        if fused >= image_only:
            kept.add(Label(name))
        else:
            dropped[name] = (
                f"cross-validated AUC {fused:.3f} with context < {image_only:.3f} without"
            )
    return kept, dropped


def evaluate(
    fusion: FusionModel,
    baseline: FusionModel,
    cases: Sequence[FusionCase],
    prompted: Sequence[dict[Label, float]] | None = None,
) -> dict[str, Any]:
    """Held-out figures per label (AUC, ECE, Brier of each score; ``prompted``, the image
    model's probabilities with each case's context prompt, adds ``image_model_prompted``)."""
    report: dict[str, Any] = {}
    for label in fusion.labels:
        indices = [i for i, c in enumerate(cases) if label in c.targets]
        known = [cases[i] for i in indices]
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
        if prompted is not None:
            hybrid = np.array([prompted[i][label] for i in indices])
            report[label.value]["image_model_prompted"] = summary(hybrid, y)
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
    cases = [case.fusion for case in fitting]
    held_out = [case.fusion for case in checking]
    labels: Sequence[Label] = TARGETS
    log(f"cross-validating {len(labels)} labels on {len(cases)} cases ...")
    cross_validated, fused_penalty, image_penalty = cross_validation_report(labels, cases)
    fusion = fit_fusion(cases, labels, trained_on=TRAINED_ON, penalties=fused_penalty)
    baseline = fit_fusion(
        cases, labels, groups=frozenset({InputGroup.IMAGE}), penalties=image_penalty
    )
    report = evaluate(fusion, baseline, held_out, [case.prompted for case in checking])
    kept, dropped = label_selection(cross_validated)
    metrics = {
        "held_out": report,
        "cross_validated": cross_validated,
        "kept_labels": sorted(label.value for label in kept),
        "dropped_labels": dropped,
        "fit_cases": len(cases),
        "held_out_cases": len(held_out),
        "contexts_per_image": contexts_per_image,
        "note": "phantom figures; not a clinical performance claim",
    }
    fitted = FusionModel(
        {label: m for label, m in fusion.labels.items() if label in kept}, metrics, TRAINED_ON
    )
    return FusionTraining(fitted, report)
