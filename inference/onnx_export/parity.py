"""Parity of an ONNX detector with the PyTorch model: calibrated probabilities within a
tolerance and identical decisions at the operating threshold. Imports no Django. Tolerances
are justified in the package docstring."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Final

import numpy as np
import torch
from numpy.typing import NDArray

from inference.labels import LABELS
from inference.models.checkpoint import load_reference_model
from inference.models.reference import ReferenceModel
from inference.onnx_export.runtime import open_session, run_detector
from inference.preprocess import normalise
from inference.registry import threshold_for

FP32_TOLERANCE: Final = 1e-4
INT8_TOLERANCE: Final = 5e-3
#: Batch sizes parity is measured at: one study alone, and the drafting batch default.
PARITY_BATCHES: Final = (1, 8)
#: Phantom seeds of the default evaluation set: far from the demonstration model's training
#: and calibration seeds (0 .. a few hundred).
PARITY_FIRST_SEED: Final = 900_000


class ParityError(RuntimeError):
    """ONNX Runtime's probabilities differ from PyTorch's beyond tolerance, or a decision at
    the operating threshold differs. The message names the precision and the measured
    difference; ``reports`` holds every precision's figures."""

    def __init__(self, message: str, reports: Sequence[ParityReport] = ()) -> None:
        super().__init__(message)
        self.reports = tuple(reports)


@dataclass(frozen=True)
class ParityItem:
    """One evaluation image. ``pixels``: (S, S) float32 display pixels 0..1 prepared at the
    model's ``image_size`` (``prepare_image``); ``prompt``: the clinical-context prompt."""

    pixels: NDArray[np.float32]
    prompt: str


@dataclass(frozen=True)
class ParityReport:
    """Measured agreement of one precision with PyTorch (probabilities after calibration)."""

    precision: str
    items: int
    max_abs_diff: float
    mean_abs_diff: float
    tolerance: float
    decision_flips: int  # (item, label) pairs decided differently at the threshold
    worst_item: int
    worst_label: str
    passed: bool

    def describe(self) -> str:
        verdict = "passed" if self.passed else "FAILED"
        return (
            f"onnx parity {verdict} ({self.precision}, {self.items} items): "
            f"max |p_onnx - p_torch| = {self.max_abs_diff:.3g} (tolerance {self.tolerance:.3g}) "
            f"at item {self.worst_item} label {self.worst_label!r}; "
            f"{self.decision_flips} decisions differ at the operating threshold"
        )


def phantom_parity_items(image_size: int, count: int = 16) -> list[ParityItem]:
    """The default evaluation set: ``count`` phantoms written as DICOM and prepared at
    ``image_size`` exactly as serving prepares a study."""
    from inference.demo_model import phantom_items

    return [
        ParityItem(item.pixels, item.prompt)
        for item in phantom_items(PARITY_FIRST_SEED, count, image_size)
    ]


def detector_inputs(
    model: ReferenceModel, items: Sequence[ParityItem]
) -> tuple[NDArray[np.float32], NDArray[np.float32]]:
    """``(pixels (N, 1, S, S), context (N, D))`` float32 graph inputs of ``items``."""
    pixels = np.stack([normalise(item.pixels) for item in items])[:, None]
    with torch.no_grad():
        prompts = [model.encode_prompt(item.prompt) for item in items]
        context = model.context_embedding(prompts).float().cpu().numpy()
    return np.ascontiguousarray(pixels, dtype=np.float32), context.astype(np.float32)


def _compare(
    precision: str,
    torch_p: NDArray[np.float32],
    onnx_runs: Sequence[NDArray[np.float32]],
    tol: float,
) -> ParityReport:
    thresholds = np.array([threshold_for(label) for label in LABELS], dtype=np.float32)
    expected = torch_p >= thresholds
    diffs = np.stack([np.abs(p - torch_p) for p in onnx_runs])  # (runs, N, 14)
    flips = sum(int(((p >= thresholds) != expected).sum()) for p in onnx_runs)
    worst = np.unravel_index(int(np.nanargmax(diffs)), diffs.shape) if diffs.size else (0, 0, 0)
    max_diff = float(diffs.max()) if diffs.size else 0.0
    return ParityReport(
        precision=precision,
        items=int(torch_p.shape[0]),
        max_abs_diff=max_diff,
        mean_abs_diff=float(diffs.mean()) if diffs.size else 0.0,
        tolerance=float(tol),
        decision_flips=flips,
        worst_item=int(worst[1]),
        worst_label=LABELS[int(worst[2])].value,
        passed=bool(np.isfinite(diffs).all() and max_diff <= tol and flips == 0),
    )


def measure_parity(
    model: ReferenceModel,
    onnx_file: Path,
    items: Sequence[ParityItem],
    *,
    precision: str,
    tolerance: float,
) -> ParityReport:
    """PyTorch vs ONNX Runtime (CPU) calibrated probabilities on ``items``; never raises on a
    difference (see :func:`check_parity`)."""
    if not items:
        raise ValueError("parity needs at least one evaluation item")
    pixels, context = detector_inputs(model, items)
    with torch.no_grad():
        features = model.encode(torch.from_numpy(pixels).to(model.device))
        logits = model.detect(features, torch.from_numpy(context).to(model.device))
        torch_p = model.probabilities(logits).float().cpu().numpy()
    session = open_session(onnx_file)
    runs = []
    for batch in PARITY_BATCHES:
        onnx_logits, _ = run_detector(session, pixels, context, batch)
        runs.append(model.probabilities(torch.from_numpy(onnx_logits)).float().numpy())
    return _compare(precision, torch_p, runs, tolerance)


def check_parity(
    model_dir: Path | str,
    onnx_file: Path | str,
    *,
    items: Sequence[ParityItem] | None = None,
    precision: str = "fp32",
    tolerance: float = FP32_TOLERANCE,
) -> ParityReport:
    """Check one ONNX detector against the PyTorch model in ``model_dir``.

    Raises:
        ParityError: beyond ``tolerance`` or any decision differs; the message is
            :meth:`ParityReport.describe`.
        ModelNotLoaded: ``model_dir`` is not a model directory.
    """
    model, _card = load_reference_model(Path(model_dir))
    chosen = items if items is not None else phantom_parity_items(model.config.image_size)
    report = measure_parity(
        model, Path(onnx_file), chosen, precision=precision, tolerance=tolerance
    )
    if not report.passed:
        raise ParityError(report.describe(), [report])
    return report
