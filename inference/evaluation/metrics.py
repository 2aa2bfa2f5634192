"""Classification figures, bootstrap intervals and equalised-odds gaps. Imports no Django.

Conventions (stated once, used everywhere):

* F1 of a label is ``2 TP / (2 TP + FP + FN)``; it is undefined (NaN) when the label has no
  positive in the truth and none predicted, and a macro average leaves undefined labels out.
  Micro F1 pools TP, FP and FN over the labels.
* AUC is the Mann-Whitney statistic with mid-ranks for ties; NaN when a label has one class.
* A 95 % bootstrap interval is the 2.5th and 97.5th percentile of the statistic over
  ``resamples`` case resamples drawn with replacement from ``numpy.random.default_rng(seed)``;
  resamples where the statistic is undefined are left out (their number is reported).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

Indices = NDArray[np.intp]
Statistic = Callable[[Indices], float]


def f1(tp: float, fp: float, fn: float) -> float:
    """``2 TP / (2 TP + FP + FN)``; NaN when all three are 0."""
    denominator = 2 * tp + fp + fn
    return 2 * tp / denominator if denominator else math.nan


def confusion(
    truth: NDArray[np.bool_], predicted: NDArray[np.bool_]
) -> tuple[NDArray[np.int64], NDArray[np.int64], NDArray[np.int64]]:
    """Per-case, per-label TP, FP, FN as 0/1 integers, each shaped like the inputs (N, L)."""
    t, p = np.asarray(truth, dtype=bool), np.asarray(predicted, dtype=bool)
    return (
        (t & p).astype(np.int64),
        (~t & p).astype(np.int64),
        (t & ~p).astype(np.int64),
    )


def per_label_f1(
    tp: NDArray[np.int64], fp: NDArray[np.int64], fn: NDArray[np.int64]
) -> list[float]:
    """F1 of each label (column) from per-case counts (N, L)."""
    sums = tp.sum(axis=0), fp.sum(axis=0), fn.sum(axis=0)
    return [f1(float(a), float(b), float(c)) for a, b, c in zip(*sums, strict=True)]


def macro_f1(tp: NDArray[np.int64], fp: NDArray[np.int64], fn: NDArray[np.int64]) -> float:
    """Mean of the defined per-label F1s; NaN when none is defined."""
    values = [v for v in per_label_f1(tp, fp, fn) if not math.isnan(v)]
    return float(np.mean(values)) if values else math.nan


def micro_f1(tp: NDArray[np.int64], fp: NDArray[np.int64], fn: NDArray[np.int64]) -> float:
    return f1(float(tp.sum()), float(fp.sum()), float(fn.sum()))


def auc(scores: NDArray[np.floating], truth: NDArray[np.bool_]) -> float:
    """ROC AUC of one label (Mann-Whitney U, mid-ranks for ties); NaN with one class."""
    values = np.asarray(scores, dtype=np.float64).ravel()
    positive = np.asarray(truth, dtype=bool).ravel()
    n_pos = int(positive.sum())
    n_neg = len(positive) - n_pos
    if not n_pos or not n_neg:
        return math.nan
    _, inverse, counts = np.unique(values, return_inverse=True, return_counts=True)
    ends = np.cumsum(counts)
    mid_ranks = ends - (counts - 1) / 2.0  # 1-based average rank of each distinct value
    ranks = mid_ranks[inverse]
    return float((ranks[positive].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def roc_curve(
    scores: NDArray[np.floating], truth: NDArray[np.bool_]
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """(false positive rates, true positive rates) at every distinct score, from (0, 0)."""
    values = np.asarray(scores, dtype=np.float64).ravel()
    positive = np.asarray(truth, dtype=bool).ravel()
    order = np.argsort(-values, kind="mergesort")
    values, positive = values[order], positive[order]
    last = np.r_[np.diff(values) != 0, True]  # the last index of each distinct score
    tps = np.cumsum(positive)[last]
    fps = np.cumsum(~positive)[last]
    n_pos, n_neg = max(int(positive.sum()), 1), max(int((~positive).sum()), 1)
    return np.r_[0.0, fps / n_neg], np.r_[0.0, tps / n_pos]


def reliability(
    scores: NDArray[np.floating], truth: NDArray[np.bool_], bins: int = 10
) -> list[tuple[float, float, int]]:
    """Calibration bins over 0..1: ``(mean predicted, observed frequency, count)`` of each
    non-empty bin of equal width."""
    values = np.asarray(scores, dtype=np.float64).ravel()
    positive = np.asarray(truth, dtype=bool).ravel()
    which = np.minimum((values * bins).astype(int), bins - 1)
    out = []
    for b in range(bins):
        inside = which == b
        if inside.any():
            out.append(
                (float(values[inside].mean()), float(positive[inside].mean()), int(inside.sum()))
            )
    return out


@dataclass(frozen=True)
class Interval:
    """A point estimate with its 95 % bootstrap interval (NaN where undefined)."""

    value: float
    low: float
    high: float
    resamples: int  # resamples where the statistic was defined

    def as_dict(self) -> dict[str, float | int | None]:
        return {
            "value": finite(self.value),
            "low": finite(self.low),
            "high": finite(self.high),
            "resamples": self.resamples,
        }


def finite(value: float) -> float | None:
    """``value`` rounded to 6 places, or None for NaN/inf (JSON has no NaN)."""
    return round(float(value), 6) if math.isfinite(value) else None


def resample_indices(n: int, resamples: int, seed: int) -> NDArray[np.intp]:
    """(resamples, n) case indices drawn with replacement, reproducible from ``seed``."""
    return np.random.default_rng(seed).integers(0, n, size=(resamples, n)).astype(np.intp)


def bootstrap(statistic: Statistic, draws: NDArray[np.intp], n: int) -> Interval:
    """``statistic`` on all ``n`` cases and its 95 % percentile interval over ``draws``."""
    point = statistic(np.arange(n, dtype=np.intp))
    values = np.array([statistic(row) for row in draws], dtype=np.float64)
    values = values[np.isfinite(values)]
    if not len(values):
        return Interval(point, math.nan, math.nan, 0)
    low, high = np.percentile(values, [2.5, 97.5])
    return Interval(point, float(low), float(high), len(values))


def ratio(numerator: NDArray[np.floating], denominator: NDArray[np.floating]) -> Statistic:
    """The statistic ``sum(numerator[i]) / sum(denominator[i])`` (NaN when 0/0)."""

    def statistic(indices: Indices) -> float:
        below = float(denominator[indices].sum())
        return float(numerator[indices].sum()) / below if below else math.nan

    return statistic


def mean_of(values: NDArray[np.floating]) -> Statistic:
    """The statistic ``mean(values[i])`` over the finite values (NaN when none)."""

    def statistic(indices: Indices) -> float:
        picked = values[indices]
        picked = picked[np.isfinite(picked)]
        return float(picked.mean()) if len(picked) else math.nan

    return statistic


# --- subgroups ------------------------------------------------------------------------------


@dataclass(frozen=True)
class GroupRates:
    group: str
    cases: int
    positives: int  # (case, label) pairs positive in the truth
    negatives: int
    tpr: float  # NaN without positives
    fpr: float  # NaN without negatives


def group_rates(
    truth: NDArray[np.bool_], predicted: NDArray[np.bool_], groups: Sequence[str]
) -> list[GroupRates]:
    """True and false positive rates per group, pooled over (case, label) pairs.

    ``truth`` and ``predicted`` are (N, L); ``groups`` names each case's group.
    """
    t, p = np.asarray(truth, dtype=bool), np.asarray(predicted, dtype=bool)
    names = np.asarray(list(groups))
    out = []
    for group in sorted(set(groups)):
        rows = names == group
        gt, gp = t[rows], p[rows]
        positives, negatives = int(gt.sum()), int((~gt).sum())
        out.append(
            GroupRates(
                group=group,
                cases=int(rows.sum()),
                positives=positives,
                negatives=negatives,
                tpr=float((gt & gp).sum() / positives) if positives else math.nan,
                fpr=float((~gt & gp).sum() / negatives) if negatives else math.nan,
            )
        )
    return out


def equalised_odds_gap(rates: Sequence[GroupRates]) -> Mapping[str, float]:
    """Largest between-group differences: ``tpr_gap``, ``fpr_gap`` and ``gap`` (the larger),
    over the groups where each rate is defined (Hardt et al.'s equalised odds holds at 0)."""
    tprs = [r.tpr for r in rates if not math.isnan(r.tpr)]
    fprs = [r.fpr for r in rates if not math.isnan(r.fpr)]
    tpr_gap = max(tprs) - min(tprs) if len(tprs) > 1 else math.nan
    fpr_gap = max(fprs) - min(fprs) if len(fprs) > 1 else math.nan
    defined = [g for g in (tpr_gap, fpr_gap) if not math.isnan(g)]
    return {"tpr_gap": tpr_gap, "fpr_gap": fpr_gap, "gap": max(defined) if defined else math.nan}
