"""Per-label Platt scaling of detection logits, fitted on held-out data. Imports no Django.

``p = sigmoid(scale * logit + bias)`` per label; saved as ``calibration.json`` in the model
directory. Labels with only one class in the held-out data keep the identity (1, 0).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
from numpy.typing import NDArray

from inference.labels import LABELS

#: Pulls the fitted scale towards 1 and bias towards 0: small held-out sets are often
#: separable, where unpenalised Platt scaling runs off to infinity.
PLATT_RIDGE = 1e-4


@dataclass(frozen=True)
class Calibration:
    method: str
    scale: tuple[float, ...]  # one per label, LABELS order
    bias: tuple[float, ...]
    fitted_on: int = 0  # held-out images

    @classmethod
    def identity(cls) -> Calibration:
        return cls("identity", (1.0,) * len(LABELS), (0.0,) * len(LABELS))

    def apply(self, logits: torch.Tensor) -> torch.Tensor:
        """(B, 14) logits -> (B, 14) calibrated probabilities 0..1."""
        scale = torch.tensor(self.scale, dtype=logits.dtype, device=logits.device)
        bias = torch.tensor(self.bias, dtype=logits.dtype, device=logits.device)
        return torch.sigmoid(logits * scale + bias)

    def save(self, path: Path) -> None:
        path.write_text(json.dumps(asdict(self), indent=2))

    @classmethod
    def load(cls, path: Path) -> Calibration:
        data = json.loads(path.read_text())
        return cls(
            method=str(data["method"]),
            scale=tuple(float(v) for v in data["scale"]),
            bias=tuple(float(v) for v in data["bias"]),
            fitted_on=int(data.get("fitted_on", 0)),
        )


def fit_platt(logits: NDArray[np.float32], targets: NDArray[np.float32]) -> Calibration:
    """Fit per-label Platt scaling.

    Args:
        logits: (N, 14) raw detection logits on held-out images.
        targets: (N, 14) 0/1 ground truth.
    """
    x = torch.as_tensor(np.asarray(logits, dtype=np.float32))
    y = torch.as_tensor(np.asarray(targets, dtype=np.float32))
    scale = torch.ones(x.shape[1], requires_grad=True)
    bias = torch.zeros(x.shape[1], requires_grad=True)
    optimiser = torch.optim.LBFGS([scale, bias], max_iter=100, line_search_fn="strong_wolfe")

    def closure() -> torch.Tensor:
        optimiser.zero_grad()
        per_item = torch.nn.functional.binary_cross_entropy_with_logits(
            x * scale + bias, y, reduction="none"
        )
        loss = per_item.mean(0).sum()  # each label's own mean: labels do not dilute each other
        loss = loss + PLATT_RIDGE * (((scale - 1) ** 2).sum() + (bias**2).sum())
        loss.backward()
        return loss

    optimiser.step(closure)
    both_classes = ((y.sum(0) > 0) & (y.sum(0) < y.shape[0])).tolist()
    fitted_scale = [
        float(s) if ok else 1.0 for s, ok in zip(scale.tolist(), both_classes, strict=True)
    ]
    fitted_bias = [
        float(b) if ok else 0.0 for b, ok in zip(bias.tolist(), both_classes, strict=True)
    ]
    return Calibration("platt", tuple(fitted_scale), tuple(fitted_bias), fitted_on=int(x.shape[0]))
