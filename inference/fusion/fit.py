"""Fitting the fusion model: L2-regularised logistic regression per label (Newton's method),
on standardised inputs, with absent inputs at z = 0 exactly as at serving. Imports no Django.

Why our own Newton solver: the problem is tiny (a few dozen inputs, thousands of cases), the
solution is deterministic, and it needs nothing beyond numpy.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from inference.fusion.features import FEATURE_GROUPS, feature_row
from inference.fusion.inputs import FusionInputs, InputGroup
from inference.fusion.model import FusionModel, LabelModel
from inference.labels import Label

L2_PENALTY = 10.0  # on the weights (not the intercept); the fit sums the log-likelihood over cases
MIN_CASES_PER_CLASS = 5


@dataclass(frozen=True)
class FusionCase:
    """One training case: image-only probabilities, context, and the true labels."""

    image_probabilities: Mapping[Label, float]
    inputs: FusionInputs
    targets: Mapping[Label, int]  # 0/1 per label the case knows the truth of


def design(
    label: Label, cases: Sequence[FusionCase], groups: frozenset[InputGroup] | None = None
) -> NDArray[np.float64]:
    """Raw inputs of ``cases`` for ``label``: shape ``(n, n_features)``, nan where absent;
    inputs outside ``groups`` (when given) are blanked to nan (an image-only model)."""
    rows = np.stack([feature_row(label, c.image_probabilities, c.inputs) for c in cases])
    if groups is not None:
        keep = np.array([g in groups for g in FEATURE_GROUPS])
        rows[:, ~keep] = np.nan
    return rows


def _standardise(
    rows: NDArray[np.float64],
) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.float64]]:
    present = ~np.isnan(rows)
    counts = present.sum(axis=0)
    mean = np.where(counts > 0, np.nansum(rows, axis=0) / np.maximum(counts, 1), 0.0)
    centred = np.where(present, rows - mean, 0.0)
    scale = np.sqrt((centred**2).sum(axis=0) / np.maximum(counts, 1))
    scale = np.where(scale > 1e-9, scale, 1.0)
    return centred / scale, mean, scale


def logistic_newton(
    z: NDArray[np.float64], y: NDArray[np.float64], penalty: float = L2_PENALTY
) -> tuple[float, NDArray[np.float64]]:
    """Intercept and weights minimising the negative log-likelihood + penalty/2 * ||w||^2."""
    n, k = z.shape
    x = np.hstack([np.ones((n, 1)), z])
    beta = np.zeros(k + 1)
    ridge = np.full(k + 1, penalty)
    ridge[0] = 1e-8
    for _ in range(100):
        p = 1.0 / (1.0 + np.exp(-np.clip(x @ beta, -35, 35)))
        gradient = x.T @ (p - y) + ridge * beta
        hessian = (x * (p * (1 - p))[:, None]).T @ x + np.diag(ridge)
        step = np.linalg.solve(hessian, gradient)
        beta -= step
        if np.abs(step).max() < 1e-8:
            break
    return float(beta[0]), beta[1:]


def fit_label(
    label: Label, cases: Sequence[FusionCase], groups: frozenset[InputGroup] | None = None
) -> LabelModel | None:
    """``label``'s model from the cases that know its truth; ``None`` when a class has fewer
    than ``MIN_CASES_PER_CLASS`` cases."""
    known = [c for c in cases if label in c.targets]
    y = np.array([float(c.targets[label]) for c in known])
    if min(y.sum(), len(y) - y.sum()) < MIN_CASES_PER_CLASS:
        return None
    z, mean, scale = _standardise(design(label, known, groups))
    intercept, weights = logistic_newton(z, y)
    return LabelModel(
        label,
        intercept,
        tuple(float(w) for w in weights),
        tuple(float(v) for v in mean),
        tuple(float(v) for v in scale),
    )


def fit_fusion(
    cases: Sequence[FusionCase],
    labels: Sequence[Label],
    *,
    groups: frozenset[InputGroup] | None = None,
    trained_on: str = "",
) -> FusionModel:
    """A model per label in ``labels`` that the cases can fit; ``groups`` restricts the
    inputs (``{InputGroup.IMAGE}`` gives the image-only recalibration baseline)."""
    fitted = {}
    for label in labels:
        model = fit_label(label, cases, groups)
        if model is not None:
            fitted[label] = model
    return FusionModel(fitted, {}, trained_on)
