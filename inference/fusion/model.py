"""The fitted fusion model: per-label logistic weights over standardised inputs, its file
format, and the additive explanation of every adjusted probability. Imports no Django.

Contribution arithmetic (what the API documents)::

    adjusted_logit = intercept + sum(contributions.values())
    contributions[group] = sum(w_i * z_i for inputs i in group)

so ``sum(contributions) == logit(adjusted_probability) - intercept`` up to float rounding.
Labels without a fitted model pass through: intercept 0, the whole logit is the image's.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import numpy as np

from inference.fusion.features import (
    CONTEXT_FEATURES,
    FEATURE_GROUPS,
    FEATURE_NAMES,
    feature_row,
    logit,
    sigmoid,
)
from inference.fusion.inputs import FusionInputs, InputGroup
from inference.labels import Label

FORMAT: Final = "radws-late-fusion"
FORMAT_VERSION: Final = 1
FILE_NAME: Final = "fusion.json"


class FusionModelError(ValueError):
    """A fusion model file is missing, unreadable or for another feature table."""


@dataclass(frozen=True)
class LabelModel:
    """Weights of one label's logistic model; every tuple has ``len(FEATURE_NAMES)`` entries.

    ``weights[i]`` multiplies ``z_i = (x_i - mean[i]) / scale[i]``.
    """

    label: Label
    intercept: float
    weights: tuple[float, ...]
    mean: tuple[float, ...]
    scale: tuple[float, ...]


@dataclass(frozen=True)
class FusedFinding:
    """One label's image-only and context-adjusted probability and what moved it.

    ``contributions`` are logits per :class:`InputGroup` (all five keys present, 0.0 for a
    group with nothing present); ``feature_contributions`` per present input (logits);
    ``absent`` names the context inputs that were missing (and so added nothing).
    """

    label: Label
    image_probability: float
    adjusted_probability: float
    intercept: float
    contributions: dict[str, float]
    feature_contributions: dict[str, float]
    absent: tuple[str, ...]
    fitted: bool  # False: no fusion model for this label (passed through)

    @property
    def adjusted_logit(self) -> float:
        return self.intercept + sum(self.contributions.values())

    def as_dict(self) -> dict[str, Any]:
        return {
            "image_probability": round(self.image_probability, 4),
            "adjusted_probability": round(self.adjusted_probability, 4),
            "intercept_logit": round(self.intercept, 6),
            "adjusted_logit": round(self.adjusted_logit, 6),
            "contributions_logit": {k: round(v, 6) for k, v in self.contributions.items()},
            "feature_contributions_logit": {
                k: round(v, 6) for k, v in self.feature_contributions.items()
            },
            "absent_inputs": list(self.absent),
            "fused": self.fitted,
        }


def _empty_contributions() -> dict[str, float]:
    return {group.value: 0.0 for group in InputGroup}


@dataclass(frozen=True)
class FusionModel:
    """Per-label late-fusion models with the figures they were evaluated at."""

    labels: Mapping[Label, LabelModel]
    metrics: Mapping[str, Any] = field(default_factory=dict)
    trained_on: str = ""

    def fuse(
        self, label: Label, image_probabilities: Mapping[Label, float], inputs: FusionInputs
    ) -> FusedFinding:
        """Adjust ``label``'s image-only probability (which must be in
        ``image_probabilities``) by the context; any subset of inputs may be present."""
        own = float(image_probabilities[label])
        row = feature_row(label, image_probabilities, inputs)
        absent = tuple(
            f.name
            for f, value in zip(CONTEXT_FEATURES, row[-len(CONTEXT_FEATURES) :], strict=True)
            if math.isnan(value)
        )
        model = self.labels.get(label)
        contributions = _empty_contributions()
        if model is None:
            contributions[InputGroup.IMAGE.value] = logit(own)
            return FusedFinding(
                label, own, sigmoid(logit(own)), 0.0, contributions, {}, absent, False
            )
        z = (row - np.asarray(model.mean)) / np.asarray(model.scale)
        z = np.where(np.isnan(z), 0.0, z)
        terms = np.asarray(model.weights) * z
        per_feature: dict[str, float] = {}
        for name, group, term, value in zip(FEATURE_NAMES, FEATURE_GROUPS, terms, row, strict=True):
            contributions[group.value] += float(term)
            if not math.isnan(value):
                per_feature[name] = float(term)
        adjusted = sigmoid(model.intercept + float(terms.sum()))
        return FusedFinding(
            label, own, adjusted, model.intercept, contributions, per_feature, absent, True
        )

    # --- file format ---------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "features": list(FEATURE_NAMES),
            "groups": [g.value for g in FEATURE_GROUPS],
            "trained_on": self.trained_on,
            "metrics": dict(self.metrics),
            "labels": {
                label.value: {
                    "intercept": m.intercept,
                    "weights": list(m.weights),
                    "mean": list(m.mean),
                    "scale": list(m.scale),
                }
                for label, m in self.labels.items()
            },
        }

    def save(self, path: Path) -> None:
        """Write the model as JSON (atomically: a reader never sees half a file)."""
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_suffix(".json.partial")
        partial.write_text(json.dumps(self.to_dict(), indent=1))
        partial.replace(path)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> FusionModel:
        """Raises ``FusionModelError`` for another format or feature table."""
        if data.get("format") != FORMAT or data.get("format_version") != FORMAT_VERSION:
            raise FusionModelError(f"not a {FORMAT} v{FORMAT_VERSION} file")
        if tuple(data.get("features", ())) != FEATURE_NAMES:
            raise FusionModelError("fitted for another feature table: re-run train_fusion")
        labels = {}
        try:
            for name, m in data["labels"].items():
                label = Label(name)
                labels[label] = LabelModel(
                    label,
                    float(m["intercept"]),
                    tuple(float(v) for v in m["weights"]),
                    tuple(float(v) for v in m["mean"]),
                    tuple(float(v) for v in m["scale"]),
                )
        except (KeyError, TypeError, ValueError) as exc:
            raise FusionModelError(f"malformed label model: {exc}") from exc
        return cls(labels, dict(data.get("metrics", {})), str(data.get("trained_on", "")))

    @classmethod
    def load(cls, path: Path) -> FusionModel:
        """Raises ``FusionModelError`` when ``path`` is missing or not a fusion model."""
        try:
            data = json.loads(path.read_text())
        except (OSError, ValueError) as exc:
            raise FusionModelError(f"fusion model {path} unreadable: {exc}") from exc
        if not isinstance(data, dict):
            raise FusionModelError(f"fusion model {path} is not a JSON object")
        return cls.from_dict(data)
