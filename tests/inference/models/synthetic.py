"""Synthetic "chest" images where a bright disc means Lung Lesion, and a tiny reference model
trained on them once per test process (shared by the model, backend and explainability tests).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np
import torch

from inference.labels import LABELS, Label
from inference.models.reference import ReferenceModel, build_reference_model
from inference.models.tokenizer import format_report
from inference.registry import reference_config
from inference.training import Stage, TrainingItem, TrainingResult, train
from inference.types import ClinicalContext

SIZE = 64
LESION = Label.LUNG_LESION
NORMAL_REPORT = format_report(
    "The heart is normal in size. The lungs are clear.", "No acute cardiopulmonary disease."
)
LESION_REPORT = format_report(
    "The heart is normal in size. There is a rounded nodule in the lung.", "Lung nodule."
)


@dataclass(frozen=True)
class Disc:
    row: int
    col: int
    radius: int

    @property
    def box(self) -> tuple[int, int, int, int]:
        """(x0, y0, x1, y1) in image pixels."""
        r = self.radius
        return (self.col - r, self.row - r, self.col + r, self.row + r)


def chest(rng: np.random.Generator, size: int = SIZE) -> np.ndarray:
    """A grey body with two dark lung fields and noise; float32 (size, size) 0..1."""
    y, x = np.mgrid[0:size, 0:size] / size
    image = 0.55 + 0.1 * rng.standard_normal() * (y - 0.5)
    for cx in (0.3, 0.7):
        lung = ((x - cx) / 0.17) ** 2 + ((y - 0.5) / 0.32) ** 2 < 1
        image = np.where(lung, 0.25, image)
    image = image + 0.05 * rng.standard_normal((size, size))
    return np.clip(image, 0, 1).astype(np.float32)


def with_disc(image: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, Disc]:
    size = image.shape[0]
    radius = int(rng.integers(size // 16, size // 10))
    cx = float(rng.choice([0.3, 0.7])) + rng.uniform(-0.08, 0.08)
    disc = Disc(int(rng.uniform(0.3, 0.7) * size), int(cx * size), radius)
    y, x = np.mgrid[0:size, 0:size]
    inside = (y - disc.row) ** 2 + (x - disc.col) ** 2 <= radius**2
    return np.where(inside, np.clip(image + 0.55, 0, 1), image).astype(np.float32), disc


def labels_vector(present: set[Label]) -> np.ndarray:
    return np.array([1.0 if label in present else 0.0 for label in LABELS], dtype=np.float32)


def letterboxed(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """As ``prepare_image`` shows a non-square film: body padded on one side, letterboxed."""
    from inference.preprocess import letterbox

    pad = np.full((image.shape[0], int(rng.integers(4, 24))), 0.55, dtype=np.float32)
    wide = np.concatenate([image, pad], axis=1)
    wide = wide.T.copy() if rng.random() < 0.5 else wide
    return letterbox(wide, image.shape[0])[0]


def make_item(rng: np.random.Generator, lesion: bool) -> tuple[TrainingItem, Disc | None]:
    image, disc = with_disc(chest(rng), rng) if lesion else (chest(rng), None)
    if rng.random() < 0.5:
        image, disc = letterboxed(image, rng), None  # the disc moved: no box for it here
    context = ClinicalContext(
        age_years=int(rng.integers(20, 90)),
        sex=str(rng.choice(["M", "F"])),
        indication=str(rng.choice(["cough", "chest pain", "follow-up"])),  # not the answer
    )
    item = TrainingItem(
        pixels=image,
        labels=labels_vector({LESION} if lesion else {Label.NO_FINDING}),
        report=LESION_REPORT if lesion else NORMAL_REPORT,
        prompt=context.as_prompt(),
    )
    return item, disc


def dataset(n: int, seed: int) -> list[tuple[TrainingItem, Disc | None]]:
    rng = np.random.default_rng(seed)
    return [make_item(rng, lesion=i % 2 == 0) for i in range(n)]


@dataclass(frozen=True)
class Trained:
    model: ReferenceModel
    items: tuple[TrainingItem, ...]
    initial_logits: np.ndarray  # (N, 14) before training
    results: tuple[TrainingResult, ...]


@functools.cache
def trained_tiny() -> Trained:
    """A tiny model trained (stage 0 then 1) on 96 synthetic images, once per process."""
    from inference.training import detection_logits

    torch.manual_seed(0)
    items = tuple(item for item, _ in dataset(96, seed=1))
    texts = [NORMAL_REPORT, LESION_REPORT] * 4 + [item.prompt for item in items]
    model = build_reference_model(reference_config("tiny"), texts)
    initial = detection_logits(model, items)
    results = (
        train(model, items, stage=Stage.ENCODER, epochs=8, lr=3e-3, batch_size=8),
        train(model, items, stage=Stage.PROJECTOR, epochs=1, batch_size=16),
    )
    return Trained(model, items, initial, results)
