"""What the fusion model reads besides the image: structured, unit-normalised context values.

Values arrive already converted to the catalogue's UCUM unit (the clinical app converts at
intake), each with where and when it came from, so evidence can be shown under a finding.
Imports no Django.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum

from inference.labels import Label


class InputGroup(StrEnum):
    """The groups a finding's probability is attributed to (contributions are per group)."""

    IMAGE = "image"
    DEMOGRAPHICS = "demographics"  # age, sex, smoking status
    HISTORY = "history"  # free text: indication, history, known conditions
    LABS_VITALS = "labs_vitals"  # CRP, WBC, procalcitonin, SpO2, temperature
    PRIORS = "priors"  # the most recent prior study's findings


#: The context measurements the fusion model knows, with their UCUM unit.
MEASUREMENT_UNITS: Mapping[str, str] = {
    "temperature": "Cel",
    "crp": "mg/L",
    "wbc": "10*9/L",
    "procalcitonin": "ng/mL",
    "spo2": "%",
}


@dataclass(frozen=True)
class Measurement:
    """One value with its provenance. ``value`` is in ``MEASUREMENT_UNITS[code]`` (UCUM)."""

    code: str  # catalogue key, e.g. "crp"
    value: float
    unit: str
    source: str = ""  # "dicom" | "fhir" | "hl7" | "manual" | "phantom"
    observed_at: str = ""  # ISO 8601, UTC
    abnormal_flag: str = ""  # HL7 table 0078: "H", "L", "N", "A", "HH", "LL" or ""
    reference_range: str = ""  # e.g. "0-5 mg/L"


@dataclass(frozen=True)
class FusionInputs:
    """Everything known about the patient for one study; every field may be missing.

    ``smoking`` is "current", "former", "never" or "" (unknown). ``history_text`` joins the
    indication, the history and known conditions. ``prior_probabilities`` are the most recent
    prior study's (context-adjusted) probabilities by label, empty when there is no prior.
    """

    age_years: float | None = None
    sex: str = ""  # "M", "F", "O" or ""
    smoking: str = ""
    history_text: str = ""
    measurements: Mapping[str, Measurement] = field(default_factory=dict)
    prior_probabilities: Mapping[Label, float] = field(default_factory=dict)
