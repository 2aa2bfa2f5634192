"""Phantom studies whose ground truth depends on the clinical context, for fitting and
evaluating late fusion (``inference.fusion``).

One rendered image is paired with several sampled contexts. Whether a consolidation is
*pneumonia* depends on the context, as it does clinically: the same opacity with fever,
raised CRP/WBC/procalcitonin and a cough is pneumonia; without signs of infection it is not
(atelectasis, aspiration, haemorrhage...). So the same image with different labs or age has a
different expected label and impression. Other labels keep the image's truth, so fusion must
also learn to leave them alone. Older patients are more often infected (a weak age effect).
Inputs go missing at random, so the model is fitted and evaluated on every subset of inputs.
Imports no Django.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from inference.datasets.phantom.clinical import infection_probability, sample_measurements
from inference.datasets.phantom.spec import (
    FindingKind,
    FindingSpec,
    Laterality,
    PhantomSpec,
    Severity,
    sample_spec,
)
from inference.fusion.inputs import MEASUREMENT_UNITS, FusionInputs, Measurement
from inference.labels import Label
from inference.types import ClinicalContext, lab_terms

#: Labels whose truth the cases know (Pneumonia depends on the context; the rest on the image).
TARGETS: tuple[Label, ...] = (
    Label.PNEUMONIA,
    Label.CONSOLIDATION,
    Label.LUNG_OPACITY,
    Label.ATELECTASIS,
    Label.PLEURAL_EFFUSION,
    Label.LUNG_LESION,
    Label.CARDIOMEGALY,
    Label.EDEMA,
)
CONSOLIDATION_SHARE = 0.45  # images given a consolidation (the context-dependent opacity)
LABEL_NOISE = 0.03  # share of context-dependent truths flipped (clinical uncertainty)

_INFECTED_HISTORY = (
    "productive cough and fever for three days",
    "fever and rigors, suspected chest infection",
    "cough, breathlessness, green sputum",
)
_OTHER_HISTORY = (
    "pre-operative assessment",
    "chest pain, exclude pneumothorax",
    "breathlessness on exertion",
    "post-operative day 2, reduced air entry",
    "routine follow-up",
)


@dataclass(frozen=True)
class ContextCase:
    """One image (``spec``) with one context and the truth that follows from both."""

    spec: PhantomSpec
    inputs: FusionInputs
    targets: dict[Label, int]
    infected: bool

    @property
    def expected_impression(self) -> str:
        return expected_impression(self.targets)


def expected_impression(targets: dict[Label, int]) -> str:
    """The impression a radiologist with this context would give for the opacity."""
    if targets.get(Label.PNEUMONIA):
        return "Consolidation in keeping with pneumonia in this clinical context."
    if targets.get(Label.CONSOLIDATION):
        return "Airspace opacity without clinical signs of infection; atelectasis or other causes."
    return "No consolidation."


def image_spec(seed: int, size: tuple[int, int]) -> PhantomSpec:
    """A phantom spec; ``CONSOLIDATION_SHARE`` of them carry a consolidation."""
    base = sample_spec(seed, size=size)
    rng = np.random.default_rng([seed, 0xC0])
    findings = [f for f in base.findings if f.kind != FindingKind.CONSOLIDATION]
    if rng.random() < CONSOLIDATION_SHARE:
        side = (Laterality.RIGHT, Laterality.LEFT, Laterality.BILATERAL)[int(rng.integers(3))]
        severity = (Severity.MILD, Severity.MODERATE, Severity.SEVERE)[int(rng.integers(3))]
        findings.append(FindingSpec(FindingKind.CONSOLIDATION, side, severity))
    return PhantomSpec(seed=seed, size=size, findings=tuple(findings))


def _measure(code: str, value: float, source: str) -> Measurement:
    return Measurement(code, round(value, 2), MEASUREMENT_UNITS[code], source=source)


def pneumonia_truth(image_labels: frozenset[Label], infected: bool) -> bool:
    """A consolidation is pneumonia when the patient is infected (before label noise)."""
    return Label.CONSOLIDATION in image_labels and infected


def sample_inputs(
    rng: np.random.Generator, *, infected: bool, age: float, source: str = "phantom"
) -> FusionInputs:
    """A context consistent with ``infected``, with inputs missing at random."""
    values = sample_measurements(rng, infected=infected)
    history = ""
    if rng.random() > 0.25:
        pool = _INFECTED_HISTORY if (infected != (rng.random() < 0.15)) else _OTHER_HISTORY
        history = pool[int(rng.integers(len(pool)))]
    smoking = ("current", "former", "never", "", "")[int(rng.integers(5))]
    return FusionInputs(
        age_years=None if rng.random() < 0.1 else float(round(age)),
        sex=("M", "F", "")[int(rng.choice(3, p=(0.47, 0.47, 0.06)))],
        smoking=smoking,
        history_text=history,
        measurements={code: _measure(code, v, source) for code, v in values.items()},
    )


def prompt_context(inputs: FusionInputs, *, labs: bool = True) -> ClinicalContext:
    """``inputs`` as the reference model's prompt reads them (hybrid fusion): age, sex,
    smoking, the labs' and vitals' flags (left out when not ``labs``) and the history."""
    values = {code: m.value for code, m in inputs.measurements.items()}
    flags = {code: m.abnormal_flag for code, m in inputs.measurements.items()}
    return ClinicalContext(
        age_years=None if inputs.age_years is None else round(inputs.age_years),
        sex=inputs.sex,
        history=inputs.history_text,
        smoking=inputs.smoking,
        labs=lab_terms(values, flags) if labs else (),
    )


def context_cases(spec: PhantomSpec, contexts: int, seed: int) -> list[ContextCase]:
    """``contexts`` cases sharing ``spec``'s image, each with its own context and truth."""
    rng = np.random.default_rng([seed, spec.seed, 0xF5])
    image_labels = spec.labels
    out = []
    for _ in range(contexts):
        age = float(rng.uniform(18, 92))
        infected = bool(rng.random() < infection_probability(age))
        targets = {label: int(label in image_labels) for label in TARGETS}
        pneumonia = pneumonia_truth(image_labels, infected)
        if rng.random() < LABEL_NOISE:
            pneumonia = not pneumonia
        targets[Label.PNEUMONIA] = int(pneumonia)
        inputs = sample_inputs(rng, infected=infected, age=age)
        out.append(ContextCase(spec, inputs, targets, infected))
    return out
