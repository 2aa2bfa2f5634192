"""The fusion model's inputs as numbers: one ordered table of features, each in one group.

A feature's extractor returns ``None`` when the input is absent; the model then treats the
feature as contributing nothing (``z = 0``) and names it as absent. Imports no Django.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from inference.fusion.inputs import FusionInputs, InputGroup
from inference.labels import LABELS, Label

PROBABILITY_FLOOR = 1e-4  # probabilities are clipped to [floor, 1 - floor] before the logit

_INFECTION = re.compile(
    r"\b(?:fever\w*|febrile|pyrexi\w*|rigors?|sepsis|septic|sputum|productive|cough\w*|"
    r"infect\w*|pneumonia)\b",
    re.I,
)
_CARDIAC = re.compile(
    r"\b(?:heart\s+failure|chf|ccf|cardiac\s+failure|orthopno\w*|cardiomyopath\w*|"
    r"ankle\s+(?:swelling|oedema|edema))\b",
    re.I,
)
_MALIGNANCY = re.compile(
    r"\b(?:cancer|malignan\w*|carcinoma|lymphoma|metasta\w*|weight\s+loss|haemoptysis|"
    r"hemoptysis)\b",
    re.I,
)


def logit(p: float) -> float:
    """log(p / (1 - p)) with ``p`` clipped to [PROBABILITY_FLOOR, 1 - PROBABILITY_FLOOR]."""
    q = min(max(float(p), PROBABILITY_FLOOR), 1.0 - PROBABILITY_FLOOR)
    return math.log(q / (1.0 - q))


def sigmoid(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-x)) if x >= 0 else math.exp(x) / (1.0 + math.exp(x))


Extractor = Callable[[FusionInputs, Label], float | None]


@dataclass(frozen=True)
class Feature:
    """One input of the fusion model. ``evidence`` names the context codes it reads (shown
    under a finding when the feature moved its probability)."""

    name: str
    group: InputGroup
    extract: Extractor
    evidence: tuple[str, ...] = ()


def _measurement(code: str, transform: Callable[[float], float] = float) -> Extractor:
    def extract(inputs: FusionInputs, _label: Label) -> float | None:
        found = inputs.measurements.get(code)
        return None if found is None else transform(found.value)

    return extract


def _history(pattern: re.Pattern[str]) -> Extractor:
    def extract(inputs: FusionInputs, _label: Label) -> float | None:
        if not inputs.history_text.strip():
            return None
        return 1.0 if pattern.search(inputs.history_text) else 0.0

    return extract


def _age(inputs: FusionInputs, _label: Label) -> float | None:
    return None if inputs.age_years is None else float(inputs.age_years) / 10.0


def _male(inputs: FusionInputs, _label: Label) -> float | None:
    return {"M": 1.0, "F": 0.0}.get(inputs.sex.upper())


def _smoker(inputs: FusionInputs, _label: Label) -> float | None:
    return {"current": 1.0, "former": 0.5, "never": 0.0}.get(inputs.smoking)


def _prior(inputs: FusionInputs, label: Label) -> float | None:
    found = inputs.prior_probabilities.get(label)
    return None if found is None else logit(found)


#: Context features in model order. Changing this table invalidates fitted fusion models
#: (the model file stores the names and is refused when they differ).
CONTEXT_FEATURES: tuple[Feature, ...] = (
    Feature("age_decades", InputGroup.DEMOGRAPHICS, _age, ("age",)),
    Feature("male_sex", InputGroup.DEMOGRAPHICS, _male, ("sex",)),
    Feature("smoker", InputGroup.DEMOGRAPHICS, _smoker, ("smoking_status",)),
    Feature("history_infection", InputGroup.HISTORY, _history(_INFECTION), ("history",)),
    Feature("history_cardiac", InputGroup.HISTORY, _history(_CARDIAC), ("history",)),
    Feature("history_malignancy", InputGroup.HISTORY, _history(_MALIGNANCY), ("history",)),
    Feature(
        "temperature_cel", InputGroup.LABS_VITALS, _measurement("temperature"), ("temperature",)
    ),
    Feature("log_crp", InputGroup.LABS_VITALS, _measurement("crp", math.log1p), ("crp",)),
    Feature("wbc", InputGroup.LABS_VITALS, _measurement("wbc"), ("wbc",)),
    Feature(
        "log_procalcitonin",
        InputGroup.LABS_VITALS,
        _measurement("procalcitonin", lambda v: math.log1p(10.0 * v)),
        ("procalcitonin",),
    ),
    Feature("spo2", InputGroup.LABS_VITALS, _measurement("spo2"), ("spo2",)),
    Feature("prior_logit", InputGroup.PRIORS, _prior, ("prior",)),
)

#: Image probabilities each label's model reads besides its own: the labels a radiologist
#: weighs with it (pneumonia is judged from the consolidation/opacity the image shows).
#: Limiting them keeps a model fitted on a few hundred images from fitting noise.
RELATED_IMAGE_LABELS: dict[Label, tuple[Label, ...]] = {
    Label.PNEUMONIA: (Label.CONSOLIDATION, Label.LUNG_OPACITY),
    Label.CONSOLIDATION: (Label.LUNG_OPACITY, Label.PNEUMONIA),
    Label.LUNG_OPACITY: (Label.CONSOLIDATION, Label.EDEMA, Label.ATELECTASIS, Label.LUNG_LESION),
    Label.ATELECTASIS: (Label.LUNG_OPACITY,),
    Label.EDEMA: (Label.CARDIOMEGALY, Label.LUNG_OPACITY, Label.PLEURAL_EFFUSION),
    Label.CARDIOMEGALY: (Label.ENLARGED_CARDIOMEDIASTINUM,),
    Label.LUNG_LESION: (Label.LUNG_OPACITY,),
}

#: Image inputs: the image-only logit of every label, in the detection head's order (a
#: label's model reads only its own and its related labels'; the others stay absent).
IMAGE_FEATURE_NAMES: tuple[str, ...] = tuple(f"image:{label.value}" for label in LABELS)
FEATURE_NAMES: tuple[str, ...] = IMAGE_FEATURE_NAMES + tuple(f.name for f in CONTEXT_FEATURES)
FEATURE_GROUPS: tuple[InputGroup, ...] = (InputGroup.IMAGE,) * len(LABELS) + tuple(
    f.group for f in CONTEXT_FEATURES
)


def feature_row(
    label: Label, image_probabilities: Mapping[Label, float], inputs: FusionInputs
) -> NDArray[np.float64]:
    """Raw (unstandardised) inputs for ``label``: shape ``(len(FEATURE_NAMES),)``, float64,
    ``nan`` where an input is absent (or an image label the model of ``label`` does not read)."""
    read = {label, *RELATED_IMAGE_LABELS.get(label, ())}
    values = [
        logit(image_probabilities[lab]) if lab in read and lab in image_probabilities else math.nan
        for lab in LABELS
    ]
    for feature in CONTEXT_FEATURES:
        value = feature.extract(inputs, label)
        values.append(math.nan if value is None else float(value))
    return np.asarray(values, dtype=np.float64)
