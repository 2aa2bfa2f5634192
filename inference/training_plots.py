"""PNG plots of a training run's per-epoch figures (matplotlib, no display). Imports no Django.

``loss.png``: the training loss of each stage's objective and the held-out detection BCE and
report NLL per epoch;
``held_out_auc.png``: the held-out macro AUC per epoch. Stage boundaries are marked, because
the training objective changes at each (stage 0 has no report loss).
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import pairwise
from pathlib import Path
from typing import TYPE_CHECKING, Final

from matplotlib.axes import Axes
from matplotlib.figure import Figure

if TYPE_CHECKING:
    from inference.training_run import EpochMetrics

LOSS_PLOT: Final = "loss.png"
AUC_PLOT: Final = "held_out_auc.png"


def _mark_stages(axes: Axes, metrics: Sequence[EpochMetrics]) -> None:
    for before, after in pairwise(metrics):
        if before.stage != after.stage:
            axes.axvline(before.epoch + 0.5, color="grey", linestyle=":")
            axes.text(
                after.epoch,
                0.98,
                after.stage,
                transform=axes.get_xaxis_transform(),
                va="top",
                fontsize=8,
                color="grey",
            )


def write_plots(run_dir: Path, metrics: Sequence[EpochMetrics]) -> list[Path]:
    """Write both plots into ``run_dir``; returns their paths (none without epochs)."""
    if not metrics:
        return []
    epochs = [m.epoch for m in metrics]
    written = []

    figure = Figure(figsize=(6, 3.5), layout="constrained")
    axes = figure.add_subplot()
    axes.plot(
        epochs, [m.train_loss for m in metrics], marker="o", label="training (stage objective)"
    )
    axes.plot(epochs, [m.held_out_detection_bce for m in metrics], marker="s", label="held-out BCE")
    axes.plot(epochs, [m.held_out_report_nll for m in metrics], marker="^", label="held-out NLL")
    axes.set_xlabel("epoch")
    axes.set_ylabel("loss")
    axes.set_yscale("log")
    axes.legend(fontsize=8)
    _mark_stages(axes, metrics)
    figure.savefig(run_dir / LOSS_PLOT, dpi=100)
    written.append(run_dir / LOSS_PLOT)

    figure = Figure(figsize=(6, 3.5), layout="constrained")
    axes = figure.add_subplot()
    points = [(m.epoch, m.held_out_macro_auc) for m in metrics if m.held_out_macro_auc is not None]
    axes.plot([e for e, _ in points], [a for _, a in points], marker="o", color="tab:green")
    axes.axhline(0.5, color="grey", linestyle="--", linewidth=0.8)
    axes.set_ylim(0.4, 1.0)
    axes.set_xlabel("epoch")
    axes.set_ylabel("held-out macro AUC")
    _mark_stages(axes, metrics)
    figure.savefig(run_dir / AUC_PLOT, dpi=100)
    written.append(run_dir / AUC_PLOT)
    return written
