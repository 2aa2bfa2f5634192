"""The evaluation's figures as PNG bytes (matplotlib, Agg; no display needed).

Label frequency, per-label ROC, calibration (reliability) and error rate against prevalence,
all from :class:`inference.evaluation.scoring.Scored`. Imports no Django.
"""

from __future__ import annotations

import io
from typing import Any

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np

from inference.evaluation.metrics import auc, reliability, roc_curve
from inference.evaluation.scoring import Scored
from inference.labels import LABELS


def _png(figure: Any) -> bytes:
    buffer = io.BytesIO()
    figure.tight_layout()
    figure.savefig(buffer, format="png", dpi=90)
    plt.close(figure)
    return buffer.getvalue()


def label_frequency(scored: Scored) -> bytes:
    """Truth prevalence and predicted-positive rate of each label."""
    figure, axes = plt.subplots(figsize=(8, 4))
    x = np.arange(len(LABELS))
    axes.bar(x - 0.2, scored.truth.mean(axis=0), width=0.4, label="truth")
    axes.bar(x + 0.2, scored.predicted.mean(axis=0), width=0.4, label="detected")
    axes.set_xticks(x, [label.value for label in LABELS], rotation=60, ha="right", fontsize=8)
    axes.set_ylabel("share of cases")
    axes.set_title("Label frequency")
    axes.legend()
    return _png(figure)


def roc_curves(scored: Scored) -> bytes:
    """ROC of every label with both classes present, AUC in the legend."""
    figure, axes = plt.subplots(figsize=(6, 6))
    for j, label in enumerate(LABELS):
        truth = scored.truth[:, j]
        if truth.all() or not truth.any():
            continue
        fpr, tpr = roc_curve(scored.probabilities[:, j], truth)
        value = auc(scored.probabilities[:, j], truth)
        colour = plt.get_cmap("tab20")(j)  # 14 labels: the default cycle has only 10 colours
        axes.plot(fpr, tpr, linewidth=1, color=colour, label=f"{label.value} ({value:.2f})")
    axes.plot([0, 1], [0, 1], color="grey", linestyle=":", linewidth=1)
    axes.set_xlabel("false positive rate")
    axes.set_ylabel("true positive rate")
    axes.set_title("Per-label ROC")
    axes.legend(fontsize=7, loc="lower right")
    return _png(figure)


def calibration(scored: Scored) -> bytes:
    """Reliability diagram pooled over labels: mean probability against observed frequency."""
    bins = reliability(scored.probabilities.ravel(), scored.truth.ravel())
    figure, axes = plt.subplots(figsize=(5, 5))
    axes.plot([0, 1], [0, 1], color="grey", linestyle=":", linewidth=1)
    if bins:
        axes.plot([b[0] for b in bins], [b[1] for b in bins], marker="o")
        for p, o, c in bins:
            axes.annotate(str(c), (p, o), fontsize=7, textcoords="offset points", xytext=(4, -8))
    axes.set_xlabel("mean predicted probability")
    axes.set_ylabel("observed frequency")
    axes.set_title("Calibration (all labels; n per bin)")
    return _png(figure)


def error_vs_prevalence(scored: Scored) -> bytes:
    """Per label: error rate ((FP + FN) / cases) against truth prevalence."""
    prevalence = scored.truth.mean(axis=0)
    error_rate = (scored.truth != scored.predicted).mean(axis=0)
    figure, axes = plt.subplots(figsize=(6, 5))
    axes.scatter(prevalence, error_rate)
    for label, x, y in zip(LABELS, prevalence, error_rate, strict=True):
        axes.annotate(label.value, (x, y), fontsize=7, textcoords="offset points", xytext=(3, 3))
    axes.set_xlabel("prevalence")
    axes.set_ylabel("error rate (FP + FN) / cases")
    axes.set_title("Error rate against prevalence")
    return _png(figure)


def all_plots(scored: Scored) -> dict[str, bytes]:
    """Every figure, keyed by a file-name-safe name."""
    return {
        "label_frequency": label_frequency(scored),
        "roc": roc_curves(scored),
        "calibration": calibration(scored),
        "error_vs_prevalence": error_vs_prevalence(scored),
    }
