"""Fitting the fusion model: L2-regularised logistic regression per label (Newton's method),
on standardised inputs, with absent inputs at z = 0 exactly as at serving. Imports no Django.

The penalty of each label's model is chosen by grouped k-fold cross-validation on the
fitting cases (out-of-fold log-loss; the cases of one image stay in one fold, so a fold's
images were never seen by its fit). The same out-of-fold probabilities give each label's
cross-validated AUC, which decides whether context is used for it (:mod:`.train`) without
touching the held-out set.

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
#: Penalties tried by cross-validation (the fit sums over cases, so larger data sets need
#: larger penalties for the same shrinkage).
PENALTIES: tuple[float, ...] = (1.0, 3.0, 10.0, 30.0, 100.0, 300.0)
CV_FOLDS = 5
MIN_CASES_PER_CLASS = 5


@dataclass(frozen=True)
class FusionCase:
    """One training case: image-only probabilities, context, and the true labels."""

    image_probabilities: Mapping[Label, float]
    inputs: FusionInputs
    targets: Mapping[Label, int]  # 0/1 per label the case knows the truth of
    image_key: str = ""  # cases of one image share a key (one cross-validation fold)


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


def _predict(
    intercept: float, weights: NDArray[np.float64], z: NDArray[np.float64]
) -> NDArray[np.float64]:
    """Probabilities of a fitted logistic model for standardised inputs ``z``."""
    return 1.0 / (1.0 + np.exp(-np.clip(intercept + z @ weights, -35, 35)))


def _labelled(
    label: Label, cases: Sequence[FusionCase]
) -> tuple[list[FusionCase], NDArray[np.float64]] | None:
    """The cases that know ``label``'s truth and their 0/1 targets; ``None`` when a class
    has fewer than ``MIN_CASES_PER_CLASS`` cases."""
    known = [c for c in cases if label in c.targets]
    y = np.array([float(c.targets[label]) for c in known])
    if min(y.sum(), len(y) - y.sum()) < MIN_CASES_PER_CLASS:
        return None
    return known, y


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
        p = _predict(float(beta[0]), beta[1:], z)
        gradient = x.T @ (p - y) + ridge * beta
        hessian = (x * (p * (1 - p))[:, None]).T @ x + np.diag(ridge)
        step = np.linalg.solve(hessian, gradient)
        beta -= step
        if np.abs(step).max() < 1e-8:
            break
    return float(beta[0]), beta[1:]


def folds(cases: Sequence[FusionCase], k: int = CV_FOLDS) -> NDArray[np.int64]:
    """Fold index per case: the distinct image keys in sorted order, dealt round-robin (a
    case without a key is its own group)."""
    keys = [c.image_key or f"#case{i}" for i, c in enumerate(cases)]
    order = {key: n % k for n, key in enumerate(sorted(set(keys)))}
    return np.array([order[key] for key in keys], dtype=np.int64)


@dataclass(frozen=True)
class CrossValidation:
    """One label's cross-validated choice: the penalty with the lowest out-of-fold log-loss
    and the out-of-fold probabilities at that penalty (in the order of the known cases)."""

    penalty: float
    log_loss: float
    out_of_fold: NDArray[np.float64]
    targets: NDArray[np.float64]


def cross_validate(
    label: Label,
    cases: Sequence[FusionCase],
    groups: frozenset[InputGroup] | None = None,
    penalties: Sequence[float] = PENALTIES,
) -> CrossValidation | None:
    """Grouped k-fold cross-validation of ``label``'s model over ``penalties``; ``None``
    when a class has fewer than ``MIN_CASES_PER_CLASS`` cases or there are too few groups.
    Each fold is standardised on its own training part, as the final fit is."""
    labelled = _labelled(label, cases)
    if labelled is None:
        return None
    known, y = labelled
    fold = folds(known)
    if len(set(fold.tolist())) < 2:
        return None
    rows = design(label, known, groups)
    best: CrossValidation | None = None
    for penalty in penalties:
        oof = np.empty(len(known))
        for f in sorted(set(fold.tolist())):
            train, test = fold != f, fold == f
            z, mean, scale = _standardise(rows[train])
            intercept, weights = logistic_newton(z, y[train], penalty)
            held = np.where(np.isnan(rows[test]), 0.0, (rows[test] - mean) / scale)
            oof[test] = _predict(intercept, weights, held)
        p = np.clip(oof, 1e-12, 1 - 1e-12)
        loss = float(-np.mean(y * np.log(p) + (1 - y) * np.log(1 - p)))
        if best is None or loss < best.log_loss - 1e-12:
            best = CrossValidation(penalty, loss, oof, y)
    return best


def fit_label(
    label: Label,
    cases: Sequence[FusionCase],
    groups: frozenset[InputGroup] | None = None,
    penalty: float = L2_PENALTY,
) -> LabelModel | None:
    """``label``'s model from the cases that know its truth; ``None`` when a class has fewer
    than ``MIN_CASES_PER_CLASS`` cases."""
    labelled = _labelled(label, cases)
    if labelled is None:
        return None
    known, y = labelled
    z, mean, scale = _standardise(design(label, known, groups))
    intercept, weights = logistic_newton(z, y, penalty)
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
    penalties: Mapping[Label, float] | None = None,
) -> FusionModel:
    """A model per label in ``labels`` that the cases can fit; ``groups`` restricts the
    inputs (``{InputGroup.IMAGE}`` gives the image-only recalibration baseline);
    ``penalties`` per label (from :func:`cross_validate`), ``L2_PENALTY`` otherwise."""
    fitted = {}
    for label in labels:
        penalty = (penalties or {}).get(label, L2_PENALTY)
        model = fit_label(label, cases, groups, penalty)
        if model is not None:
            fitted[label] = model
    return FusionModel(fitted, {}, trained_on)
