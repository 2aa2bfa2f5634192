"""Comparison with the most recent prior study: per finding, the change in probability and
region, the images' embedding distance, a label (new / unchanged / improved / worse) and the
draft sentence ("Right pleural effusion, increased since 2024-01-15."). Imports no Django.

Rules, in order, for a finding present now (probability >= its threshold):
- absent on the prior (not reported, or below threshold): NEW;
- both have boxes: area ratio >= 1 + ``AREA_STEP`` WORSE, <= 1 / (1 + ``AREA_STEP``) IMPROVED;
- otherwise probability change >= ``PROBABILITY_STEP`` WORSE, <= -step IMPROVED;
- else UNCHANGED.
A finding present on the prior and absent now is IMPROVED ("... has resolved since ...").
Boxes are compared as fractions of their image (studies differ in pixel size).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Final

import numpy as np
from numpy.typing import NDArray

from inference.labeller.change import IntervalChange
from inference.labels import Label

PROBABILITY_STEP: Final = 0.10
AREA_STEP: Final = 0.25
NOT_COMPARED: Final = frozenset({Label.NO_FINDING, Label.SUPPORT_DEVICES})

FractionBox = tuple[float, float, float, float]  # (x0, y0, x1, y1) as fractions 0..1


@dataclass(frozen=True)
class ComparedFinding:
    """A finding on one study, as the comparison needs it."""

    label: Label
    probability: float  # context-adjusted where available, 0..1
    box: FractionBox | None = None
    laterality: str = ""  # "left" | "right" | "bilateral" | ""


@dataclass(frozen=True)
class FindingChange:
    label: Label
    change: IntervalChange
    probability_now: float | None
    probability_before: float | None
    area_ratio: float | None
    box_iou: float | None
    sentence: str

    def as_dict(self) -> dict[str, Any]:
        def r(v: float | None) -> float | None:
            return None if v is None else round(v, 4)

        delta = (
            None
            if self.probability_now is None or self.probability_before is None
            else self.probability_now - self.probability_before
        )
        return {
            "change": self.change.value,
            "probability_now": r(self.probability_now),
            "probability_before": r(self.probability_before),
            "probability_change": r(delta),
            "area_ratio": r(self.area_ratio),
            "box_iou": r(self.box_iou),
            "sentence": self.sentence,
        }


def _area(box: FractionBox) -> float:
    return max(0.0, box[2] - box[0]) * max(0.0, box[3] - box[1])


def box_iou(a: FractionBox, b: FractionBox) -> float:
    inter = _area((max(a[0], b[0]), max(a[1], b[1]), min(a[2], b[2]), min(a[3], b[3])))
    union = _area(a) + _area(b) - inter
    return inter / union if union > 0 else 0.0


def finding_name(label: Label, laterality: str) -> str:
    """ "Right pleural effusion", "Lung lesion", "Bilateral consolidation"."""
    name = label.value.lower()
    text = f"{laterality} {name}" if laterality else name
    return text[0].upper() + text[1:]


def change_sentence(label: Label, laterality: str, change: IntervalChange, prior_date: str) -> str:
    name = finding_name(label, laterality)
    if change is IntervalChange.NEW:
        return f"{name}, new since {prior_date}."
    if change is IntervalChange.WORSE:
        return f"{name}, increased since {prior_date}."
    if change is IntervalChange.UNCHANGED:
        return f"{name}, unchanged since {prior_date}."
    return f"{name}, decreased since {prior_date}."


def _classify(now: ComparedFinding, before: ComparedFinding) -> tuple[IntervalChange, float | None]:
    ratio = None
    if now.box is not None and before.box is not None and _area(before.box) > 0:
        ratio = _area(now.box) / _area(before.box)
        if ratio >= 1 + AREA_STEP:
            return IntervalChange.WORSE, ratio
        if ratio <= 1 / (1 + AREA_STEP):
            return IntervalChange.IMPROVED, ratio
    delta = now.probability - before.probability
    if delta >= PROBABILITY_STEP:
        return IntervalChange.WORSE, ratio
    if delta <= -PROBABILITY_STEP:
        return IntervalChange.IMPROVED, ratio
    return IntervalChange.UNCHANGED, ratio


def compare_with_prior(
    current: Sequence[ComparedFinding],
    prior: Sequence[ComparedFinding],
    *,
    prior_date: str,
    threshold: float = 0.5,
) -> list[FindingChange]:
    """The change of every finding present now or on the prior (see the module's rules)."""
    before = {f.label: f for f in prior if f.probability >= threshold}
    out = []
    for now in current:
        if now.label in NOT_COMPARED or now.probability < threshold:
            continue
        side = now.laterality
        old = before.pop(now.label, None)
        if old is None:
            change, ratio, iou = IntervalChange.NEW, None, None
            p_before = next((f.probability for f in prior if f.label == now.label), None)
        else:
            change, ratio = _classify(now, old)
            iou = box_iou(now.box, old.box) if now.box and old.box else None
            p_before = old.probability
        sentence = change_sentence(now.label, side, change, prior_date)
        out.append(
            FindingChange(now.label, change, now.probability, p_before, ratio, iou, sentence)
        )
    for old in before.values():
        if old.label in NOT_COMPARED:
            continue
        name = finding_name(old.label, old.laterality).lower()
        sentence = f"Previously seen {name} has resolved since {prior_date}."
        out.append(
            FindingChange(
                old.label, IntervalChange.IMPROVED, None, old.probability, None, None, sentence
            )
        )
    return out


def embedding_distance(a: NDArray[np.float32], b: NDArray[np.float32]) -> float:
    """Cosine distance (0 same direction .. 2 opposite) of two image embeddings."""
    norm = float(np.linalg.norm(a) * np.linalg.norm(b))
    return float(1.0 - float(a @ b) / norm) if norm > 0 else 1.0
