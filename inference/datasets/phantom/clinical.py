"""The clinical side of a phantom patient: whether they are infected and the vitals and
labs that follow from it. Shared by the phantoms' contexts (``report.sample_context``) and the
context-dependent phantoms (``inference.datasets.context_phantom``), so both tell a pneumonia
from another consolidation by the same rule. Imports no Django.
"""

from __future__ import annotations

import math

import numpy as np


def infection_probability(age: float) -> float:
    """How likely a patient of ``age`` years is to have a systemic infection (fever, raised
    inflammatory markers): older patients more often."""
    return 0.35 + (0.3 if age >= 65 else 0.0)


def sample_measurements(rng: np.random.Generator, *, infected: bool) -> dict[str, float]:
    """Vitals and labs consistent with ``infected``, in ``MEASUREMENT_UNITS``; vitals are
    missing for 20 % of patients, labs for 30 %, and each lab for 15 % more."""
    values: dict[str, float] = {}
    if rng.random() > 0.2:  # vitals recorded
        values["temperature"] = rng.normal(38.6, 0.6) if infected else rng.normal(36.9, 0.4)
        spo2 = rng.normal(92.5, 3.0) if infected else rng.normal(97.0, 1.5)
        values["spo2"] = float(min(100.0, spo2))
    if rng.random() > 0.3:  # labs drawn
        values["crp"] = math.exp(rng.normal(4.6, 0.6) if infected else rng.normal(1.6, 0.8))
        values["wbc"] = max(1.0, rng.normal(14.0, 3.0) if infected else rng.normal(7.5, 2.0))
        values["procalcitonin"] = math.exp(
            rng.normal(0.2, 0.8) if infected else rng.normal(-2.8, 0.6)
        )
        for code in ("crp", "wbc", "procalcitonin"):
            if rng.random() < 0.15:
                values.pop(code)
    return values
