"""Synthetic fusion cases: an image probability and labs whose truth depends on both."""

from __future__ import annotations

import numpy as np

from inference.fusion.fit import FusionCase
from inference.fusion.inputs import MEASUREMENT_UNITS, FusionInputs, Measurement
from inference.labels import Label


def measurement(code: str, value: float) -> Measurement:
    return Measurement(
        code,
        value,
        MEASUREMENT_UNITS[code],
        source="manual",
        observed_at="2024-01-15T09:00:00+00:00",
    )


def infection_cases(n: int, seed: int = 0, lab_missing: float = 0.2) -> list[FusionCase]:
    """Pneumonia = an opacity on the image AND infection (fever, raised CRP)."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        opacity = rng.random() < 0.5
        infected = rng.random() < 0.5
        p_consolidation = float(np.clip(rng.normal(0.75 if opacity else 0.25, 0.12), 0.01, 0.99))
        values = {}
        if rng.random() > lab_missing:
            values["crp"] = measurement(
                "crp", float(np.exp(rng.normal(4.6 if infected else 1.5, 0.5)))
            )
        if rng.random() > lab_missing:
            values["temperature"] = measurement(
                "temperature", float(rng.normal(38.7 if infected else 36.9, 0.4))
            )
        inputs = FusionInputs(age_years=float(rng.integers(20, 90)), sex="F", measurements=values)
        image = {
            Label.CONSOLIDATION: p_consolidation,
            Label.PNEUMONIA: 0.1,
            Label.LUNG_OPACITY: p_consolidation,
        }
        truth = {Label.PNEUMONIA: int(opacity and infected), Label.CONSOLIDATION: int(opacity)}
        out.append(FusionCase(image, inputs, truth))
    return out
