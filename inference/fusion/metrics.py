"""Discrimination and calibration figures for probabilities against 0/1 targets.
Imports no Django."""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

ECE_BINS = 10


def auc(scores: NDArray[np.float64], targets: NDArray[np.float64]) -> float:
    """Area under the ROC curve (Mann-Whitney, ties count half); ``nan`` with one class."""
    positive = scores[targets > 0.5]
    negative = scores[targets <= 0.5]
    if len(positive) == 0 or len(negative) == 0:
        return float("nan")
    values = np.concatenate([positive, negative])
    _, inverse, counts = np.unique(values, return_inverse=True, return_counts=True)
    ends = np.cumsum(counts)
    ranks = ((ends - counts + 1 + ends) / 2.0)[inverse]  # ties share their average rank
    u = ranks[: len(positive)].sum() - len(positive) * (len(positive) + 1) / 2.0
    return float(u / (len(positive) * len(negative)))


def brier(probabilities: NDArray[np.float64], targets: NDArray[np.float64]) -> float:
    """Mean squared error of the probabilities (0 best)."""
    return float(np.mean((probabilities - targets) ** 2))


def expected_calibration_error(
    probabilities: NDArray[np.float64], targets: NDArray[np.float64], bins: int = ECE_BINS
) -> float:
    """ECE over ``bins`` equal-width probability bins: sum of |mean p - observed rate|
    weighted by the bin's share of cases (0 best)."""
    edges = np.linspace(0.0, 1.0, bins + 1)
    index = np.clip(np.digitize(probabilities, edges[1:-1]), 0, bins - 1)
    total = 0.0
    for b in range(bins):
        chosen = index == b
        if chosen.any():
            total += chosen.mean() * abs(probabilities[chosen].mean() - targets[chosen].mean())
    return float(total)


def summary(probabilities: NDArray[np.float64], targets: NDArray[np.float64]) -> dict[str, float]:
    return {
        "auc": round(auc(probabilities, targets), 4),
        "ece": round(expected_calibration_error(probabilities, targets), 4),
        "brier": round(brier(probabilities, targets), 4),
        "n": len(targets),
        "positives": int((targets > 0.5).sum()),
    }
