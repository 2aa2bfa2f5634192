"""The embedded demonstration model: the reference model trained by this code on generated
phantom chest radiographs, so that a fresh install drafts something real and honestly labelled.

It has never seen a patient's image. Its figures are measured on held-out phantoms and say
nothing about clinical performance; the model card and every draft say so. Imports no Django.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from inference.datasets.phantom import Phantom, render_phantom, sample_spec, to_dicom
from inference.labels import LABELS, Label
from inference.models.checkpoint import ModelCard
from inference.models.reference import build_reference_model
from inference.models.tokenizer import format_report
from inference.preprocess import prepare_image
from inference.registry import reference_config
from inference.training import (
    Stage,
    TrainingItem,
    detection_logits,
    fit_calibration,
    roc_auc,
    train,
)

DEMO_NAME = "reference-demo"
DEMO_TRAINING_DATA = (
    "procedurally generated phantom chest radiographs (inference.datasets.phantom) with "
    "reports built from Indiana University (Open-i) report sentences; no patient images"
)


@dataclass(frozen=True)
class DemoTraining:
    card: ModelCard
    seconds: float
    train_count: int
    held_out_count: int


def phantom_item(phantom: Phantom, image_size: int) -> TrainingItem:
    """A phantom as the serving path sees it: written as DICOM, then ``prepare_image``."""
    prepared = prepare_image(to_dicom(phantom), size=image_size)
    present = set(phantom.labels) or {Label.NO_FINDING}
    labels = np.array([1.0 if label in present else 0.0 for label in LABELS], dtype=np.float32)
    context = phantom.context
    from inference.types import ClinicalContext

    prompt = ClinicalContext(
        age_years=context.age, sex=context.sex, indication=context.indication
    ).as_prompt()
    report = format_report(phantom.report.findings, phantom.report.impression)
    return TrainingItem(pixels=prepared.pixels, labels=labels, report=report, prompt=prompt)


def phantom_items(first_seed: int, count: int, image_size: int) -> list[TrainingItem]:
    render_size = max(256, image_size)
    return [
        phantom_item(render_phantom(sample_spec(seed, size=(render_size, render_size))), image_size)
        for seed in range(first_seed, first_seed + count)
    ]


def train_demo_model(
    out_dir: Path,
    *,
    size: str = "tiny",
    count: int = 240,
    held_out: int = 80,
    encoder_epochs: int = 8,
    seed: int = 0,
    version: str = "demo-1",
    log: Callable[[str], None] = print,
) -> DemoTraining:
    """Train, calibrate, evaluate and save the demonstration model into ``out_dir``.

    Phantoms ``seed .. seed+count-1`` train it; the next ``held_out`` ones calibrate and
    measure it (per-label AUC where both classes occur). Returns the saved model card.
    """
    started = time.perf_counter()
    torch.manual_seed(seed)
    config = reference_config(size)
    log(f"rendering {count + held_out} phantoms at {config.image_size} px ...")
    items = phantom_items(seed, count, config.image_size)
    checks = phantom_items(seed + count, held_out, config.image_size)
    model = build_reference_model(config, [item.report for item in items])
    log(f"training a {size} reference model on {count} phantoms (CPU works; a few minutes) ...")
    train(model, items, stage=Stage.ENCODER, epochs=encoder_epochs, lr=3e-3, batch_size=16)
    train(model, items, stage=Stage.PROJECTOR, epochs=2, batch_size=16)
    train(model, items, stage=Stage.LANGUAGE, epochs=2, batch_size=16)
    fit_calibration(model, checks)
    logits = torch.from_numpy(detection_logits(model, checks))
    scores = model.calibration.apply(logits).detach().numpy()
    targets = np.stack([item.labels for item in checks])
    metrics: dict[str, float] = {}
    for index, label in enumerate(LABELS):
        column = targets[:, index]
        if 0 < column.sum() < len(column):
            metrics[f"auc_phantom_{label.value}"] = round(roc_auc(scores[:, index], column), 3)
    if metrics:
        metrics["macro_auc_phantom"] = round(float(np.mean(list(metrics.values()))), 3)
    card = ModelCard(
        name=DEMO_NAME,
        version=version,
        training_data=DEMO_TRAINING_DATA,
        metrics=metrics,
        size=size,
    )
    out_dir.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out_dir, card)
    seconds = time.perf_counter() - started
    log(
        f"demonstration model saved to {out_dir} in {seconds:.0f} s; held-out phantom macro AUC "
        f"{metrics.get('macro_auc_phantom', float('nan'))} (not a clinical figure)"
    )
    return DemoTraining(card, seconds, count, held_out)
