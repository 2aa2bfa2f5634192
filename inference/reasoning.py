"""Clinical reasoning output, labelled as decision support: a short differential that weighs
the findings against the context, and context-conditioned recommendations. Imports no Django.

Everything here is rules coded as data (``DIFFERENTIALS``, ``FLEISCHNER_2017_SOLID``), so a
department can read, audit and change them; nothing is learned. The output is for a
radiologist to weigh, never a diagnosis: every block says so (``DECISION_SUPPORT_NOTICE``).

Differential: for each pattern whose findings are present, each candidate diagnosis starts at
its ``base`` weight and gains (or loses) each criterion's weight when the criterion holds;
candidates are ranked by score and each lists the evidence for and against with the values.
E.g. consolidation + temperature 38.9 Cel + CRP 160 mg/L: bacterial pneumonia scores above
viral pneumonia. Criteria on absent inputs neither hold nor fail; they are listed as unknown.

Nodule follow-up: the Fleischner Society 2017 table for a single solid nodule (MacMahon et al.,
Radiology 2017;284:228-243) keyed by size band and risk; the risk band comes from
``inference.drafting.recommendations.nodule_risk`` (age, smoking, malignancy in the text)
and the structured smoking status. A radiograph cannot apply the table directly (CT
characterises the nodule first), so the recommendation says what applies *if CT confirms*.
"""

from __future__ import annotations

import operator
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Final

from inference.drafting.recommendations import FLEISCHNER_MIN_AGE, nodule_risk
from inference.fusion.inputs import FusionInputs
from inference.labels import Label
from inference.types import ClinicalContext

DECISION_SUPPORT_NOTICE: Final = (
    "Decision support generated from rules and a demonstration model; not a diagnosis. "
    "The reporting radiologist decides."
)
GUIDELINE_FLEISCHNER_2017: Final = (
    "Fleischner Society 2017 guidelines for incidental pulmonary nodules "
    "(MacMahon et al., Radiology 2017;284:228-243)"
)

_COMPARE: dict[str, Callable[[float, float], bool]] = {
    ">=": operator.ge,
    ">": operator.gt,
    "<=": operator.le,
    "<": operator.lt,
}


@dataclass(frozen=True)
class Criterion:
    """A test on one context value (``code``: a measurement, "age", or "history" with a
    regex) or on the findings ("finding:<Label value>", "bilateral")."""

    code: str
    op: str = ">="
    value: float = 0.0
    weight: float = 1.0
    pattern: str = ""  # for code == "history"
    describe: str = ""  # what the evidence line says, e.g. "raised CRP"


@dataclass(frozen=True)
class Candidate:
    diagnosis: str
    base: float
    criteria: tuple[Criterion, ...]


@dataclass(frozen=True)
class DifferentialPattern:
    """Candidates to weigh when any of ``findings`` is present."""

    name: str
    findings: frozenset[Label]
    candidates: tuple[Candidate, ...]


_INFECTION_WORDS = r"fever|febrile|rigors?|sputum|productive|cough|infect\w*|sepsis"
_CARDIAC_WORDS = r"heart\s+failure|chf|ccf|orthopno\w*|cardiomyopath\w*"
_MALIGNANCY_WORDS = r"cancer|malignan\w*|carcinoma|metasta\w*|lymphoma"
_CANCER_SYMPTOMS = r"weight\s+loss|ha?emoptysis|chronic\s+cough"

DIFFERENTIALS: Final[tuple[DifferentialPattern, ...]] = (
    DifferentialPattern(
        "airspace opacity",
        frozenset({Label.CONSOLIDATION, Label.PNEUMONIA, Label.LUNG_OPACITY}),
        (
            Candidate(
                "bacterial pneumonia",
                1.0,
                (
                    Criterion("temperature", ">=", 38.0, 1.0, describe="fever"),
                    Criterion("crp", ">=", 100.0, 1.5, describe="CRP >= 100 mg/L"),
                    Criterion("crp", "<", 20.0, -1.0, describe="CRP < 20 mg/L"),
                    Criterion("wbc", ">", 11.0, 1.0, describe="leukocytosis"),
                    Criterion("procalcitonin", ">=", 0.5, 1.5, describe="procalcitonin >= 0.5"),
                    Criterion("procalcitonin", "<", 0.25, -1.5, describe="procalcitonin < 0.25"),
                    Criterion("history", pattern=_INFECTION_WORDS, describe="infective symptoms"),
                    Criterion("bilateral", weight=-0.5, describe="bilateral distribution"),
                ),
            ),
            Candidate(
                "viral / atypical pneumonia",
                0.8,
                (
                    Criterion("temperature", ">=", 38.0, 0.5, describe="fever"),
                    Criterion("crp", ">=", 100.0, -0.5, describe="CRP >= 100 mg/L"),
                    Criterion("wbc", "<=", 11.0, 0.5, describe="normal white count"),
                    Criterion("procalcitonin", "<", 0.25, 1.0, describe="procalcitonin < 0.25"),
                    Criterion(
                        "history",
                        pattern=_INFECTION_WORDS,
                        weight=0.5,
                        describe="infective symptoms",
                    ),
                    Criterion("bilateral", weight=1.0, describe="bilateral distribution"),
                ),
            ),
            Candidate(
                "atelectasis",
                0.8,
                (
                    Criterion("temperature", "<", 37.8, 0.5, describe="afebrile"),
                    Criterion("crp", "<", 20.0, 1.0, describe="CRP < 20 mg/L"),
                    Criterion(
                        "history",
                        pattern=r"post[- ]?op\w*|surgery|immobil\w*",
                        describe="post-operative",
                    ),
                    Criterion(
                        f"finding:{Label.ATELECTASIS.value}", weight=1.0, describe="volume loss"
                    ),
                ),
            ),
            Candidate(
                "pulmonary oedema",
                0.5,
                (
                    Criterion(
                        f"finding:{Label.CARDIOMEGALY.value}", weight=1.0, describe="cardiomegaly"
                    ),
                    Criterion(
                        f"finding:{Label.EDEMA.value}", weight=1.5, describe="oedema pattern"
                    ),
                    Criterion(
                        "history", pattern=_CARDIAC_WORDS, weight=1.0, describe="heart failure"
                    ),
                ),
            ),
        ),
    ),
    DifferentialPattern(
        "lung lesion",
        frozenset({Label.LUNG_LESION}),
        (
            Candidate(
                "primary lung malignancy",
                0.8,
                (
                    Criterion("age", ">=", 50.0, 1.0, describe="age >= 50"),
                    Criterion("age", "<", 35.0, -1.0, describe="age < 35"),
                    Criterion("smoking", ">=", 0.5, 1.5, describe="current or former smoker"),
                    Criterion(
                        "history",
                        pattern=_CANCER_SYMPTOMS,
                        weight=1.0,
                        describe="weight loss / haemoptysis / chronic cough",
                    ),
                ),
            ),
            Candidate(
                "metastasis",
                0.3,
                (
                    Criterion(
                        "history",
                        pattern=_MALIGNANCY_WORDS,
                        weight=1.5,
                        describe="known malignancy",
                    ),
                ),
            ),
            Candidate(
                "infection / inflammatory nodule",
                0.8,
                (
                    Criterion("age", "<", 35.0, 1.0, describe="age < 35"),
                    Criterion("temperature", ">=", 38.0, 0.5, describe="fever"),
                    Criterion("crp", ">=", 50.0, 0.5, describe="raised CRP"),
                    Criterion("smoking", "<", 0.5, 0.5, describe="never smoker"),
                ),
            ),
        ),
    ),
    DifferentialPattern(
        "pleural effusion",
        frozenset({Label.PLEURAL_EFFUSION}),
        (
            Candidate(
                "parapneumonic effusion",
                0.6,
                (
                    Criterion(
                        f"finding:{Label.CONSOLIDATION.value}",
                        weight=1.0,
                        describe="adjacent consolidation",
                    ),
                    Criterion("temperature", ">=", 38.0, 0.5, describe="fever"),
                    Criterion("crp", ">=", 100.0, 1.0, describe="CRP >= 100 mg/L"),
                ),
            ),
            Candidate(
                "cardiac failure",
                0.6,
                (
                    Criterion(
                        f"finding:{Label.CARDIOMEGALY.value}", weight=1.0, describe="cardiomegaly"
                    ),
                    Criterion("bilateral", weight=0.5, describe="bilateral effusions"),
                    Criterion(
                        "history", pattern=_CARDIAC_WORDS, weight=1.0, describe="heart failure"
                    ),
                ),
            ),
            Candidate(
                "malignant effusion",
                0.3,
                (
                    Criterion(
                        "history",
                        pattern=_MALIGNANCY_WORDS,
                        weight=1.5,
                        describe="known malignancy",
                    ),
                ),
            ),
        ),
    ),
)

#: Single solid nodule, Fleischner 2017: (low mm, high mm, risk band, recommendation).
FLEISCHNER_2017_SOLID: Final[tuple[tuple[float, float, str, str], ...]] = (
    (0.0, 6.0, "low", "no routine follow-up"),
    (0.0, 6.0, "high", "optional CT at 12 months"),
    (6.0, 8.0, "low", "CT at 6-12 months, then consider CT at 18-24 months"),
    (6.0, 8.0, "high", "CT at 6-12 months, then CT at 18-24 months"),
    (8.0, 30.0, "low", "consider CT at 3 months, PET/CT, or tissue sampling"),
    (8.0, 30.0, "high", "consider CT at 3 months, PET/CT, or tissue sampling"),
)
MASS_MIN_MM: Final = 30.0  # a lesion over 3 cm is a mass, outside the nodule table


@dataclass(frozen=True)
class ReasonedFinding:
    """A finding as reasoning sees it. ``size_mm``: longest box side in mm, if known."""

    label: Label
    probability: float
    laterality: str = ""
    size_mm: float | None = None


@dataclass(frozen=True)
class DifferentialItem:
    pattern: str
    diagnosis: str
    score: float
    supporting: tuple[str, ...]
    against: tuple[str, ...]
    unknown: tuple[str, ...]

    def as_dict(self) -> dict[str, Any]:
        return {
            "pattern": self.pattern,
            "diagnosis": self.diagnosis,
            "score": round(self.score, 2),
            "supporting": list(self.supporting),
            "against": list(self.against),
            "unknown": list(self.unknown),
        }


@dataclass(frozen=True)
class Recommendation:
    label: Label
    text: str
    guideline: str
    rule: str

    def as_dict(self) -> dict[str, Any]:
        return {
            "label": self.label.value,
            "text": self.text,
            "guideline": self.guideline,
            "rule": self.rule,
        }


def _smoking_value(inputs: FusionInputs) -> float | None:
    return {"current": 1.0, "former": 0.5, "never": 0.0}.get(inputs.smoking)


def _value(code: str, inputs: FusionInputs) -> float | None:
    if code == "age":
        return inputs.age_years
    if code == "smoking":
        return _smoking_value(inputs)
    found = inputs.measurements.get(code)
    return None if found is None else found.value


def _evaluate(
    criterion: Criterion, findings: dict[Label, ReasonedFinding], inputs: FusionInputs
) -> tuple[bool | None, str]:
    """Whether the criterion holds (None: unknown) and the evidence line."""
    if criterion.code.startswith("finding:"):
        label = Label(criterion.code.split(":", 1)[1])
        return label in findings, criterion.describe
    if criterion.code == "bilateral":
        return any(f.laterality == "bilateral" for f in findings.values()), criterion.describe
    if criterion.code == "history":
        if not inputs.history_text.strip():
            return None, criterion.describe
        found = re.search(criterion.pattern, inputs.history_text, re.I)
        return bool(
            found
        ), f"{criterion.describe} ('{found.group(0)}')" if found else criterion.describe
    value = _value(criterion.code, inputs)
    if value is None:
        return None, criterion.describe
    measured = inputs.measurements.get(criterion.code)
    shown = f"{value:g} {measured.unit}" if measured else f"{value:g}"
    return _COMPARE[criterion.op](value, criterion.value), f"{criterion.describe} ({shown})"


def differential(
    findings: Sequence[ReasonedFinding], inputs: FusionInputs
) -> list[DifferentialItem]:
    """Ranked candidates for every pattern whose findings are present (highest score first
    within a pattern)."""
    present = {f.label: f for f in findings}
    out: list[DifferentialItem] = []
    for pattern in DIFFERENTIALS:
        if not pattern.findings & present.keys():
            continue
        items = []
        for candidate in pattern.candidates:
            score = candidate.base
            supporting: list[str] = []
            against: list[str] = []
            unknown: list[str] = []
            for criterion in candidate.criteria:
                holds, line = _evaluate(criterion, present, inputs)
                if holds is None:
                    unknown.append(line)
                elif holds:
                    score += criterion.weight
                    (supporting if criterion.weight > 0 else against).append(line)
            items.append(
                DifferentialItem(
                    pattern.name,
                    candidate.diagnosis,
                    score,
                    tuple(supporting),
                    tuple(against),
                    tuple(dict.fromkeys(unknown)),
                )
            )
        out += sorted(items, key=lambda item: -item.score)
    return out


def _risk_band(inputs: FusionInputs) -> str:
    """Fleischner risk band: the text rules of the drafting recommendations, refined by the
    structured smoking status."""
    text_context = ClinicalContext(
        age_years=None if inputs.age_years is None else int(inputs.age_years),
        history=inputs.history_text,
    )
    band = nodule_risk(text_context)
    if band == "young":
        return band
    if inputs.smoking in ("current", "former"):
        return "high"
    if band == "unknown" and inputs.smoking == "never":
        return "low"
    return band


def nodule_recommendation(finding: ReasonedFinding, inputs: FusionInputs) -> Recommendation:
    """Follow-up of a lung lesion by size, age and smoking (Fleischner 2017)."""
    band = _risk_band(inputs)
    size = finding.size_mm
    if band == "young":
        return Recommendation(
            finding.label,
            f"Patient under {FLEISCHNER_MIN_AGE}: Fleischner guidelines do not apply; "
            "short-interval follow-up radiograph, CT if persistent.",
            GUIDELINE_FLEISCHNER_2017,
            "fleischner-2017:not-applicable-under-35",
        )
    if size is None:
        return Recommendation(
            finding.label,
            "CT chest to characterise and measure the lesion; follow-up then per Fleischner 2017 "
            f"({band} risk).",
            GUIDELINE_FLEISCHNER_2017,
            f"fleischner-2017:size-unknown:{band}",
        )
    if size >= MASS_MIN_MM:
        return Recommendation(
            finding.label,
            f"Lesion about {size:.0f} mm (a mass, outside the nodule table): CT chest and "
            "referral for tissue diagnosis.",
            GUIDELINE_FLEISCHNER_2017,
            "fleischner-2017:mass",
        )
    risk = "high" if band in ("high", "unknown") else "low"
    for low, high, table_risk, advice in FLEISCHNER_2017_SOLID:
        if low <= size < high and table_risk == risk:
            assumed = " (risk unknown: high-risk row used)" if band == "unknown" else ""
            return Recommendation(
                finding.label,
                f"Lesion about {size:.0f} mm on the radiograph: CT chest to confirm; if a "
                f"solid nodule of this size, {risk}-risk patient{assumed}: {advice}.",
                GUIDELINE_FLEISCHNER_2017,
                f"fleischner-2017:solid:{low:g}-{high:g}mm:{risk}",
            )
    raise AssertionError("size bands cover 0..30 mm")


def recommendations(
    findings: Sequence[ReasonedFinding], inputs: FusionInputs
) -> list[Recommendation]:
    """Context-conditioned recommendations computed from structured data (the drafting
    rules in ``inference.drafting.recommendations`` already word the report's own ones)."""
    return [nodule_recommendation(f, inputs) for f in findings if f.label is Label.LUNG_LESION]
