"""Reading a study's clinical context: the values linked to it, inside the time window,
with the inputs that are missing named explicitly.

Linking rules (documented in the README):
- by patient: identifier and issuer (the study's Patient row; a message's identifier system
  becomes the issuer through ``CLINICAL_IDENTIFIER_SYSTEMS``, see ``intake.IdentifierSystems``);
- labs and vital signs: only those observed within ``CLINICAL_WINDOW_HOURS`` before the
  study's acquisition time (and not after it);
- request fields (indication, requested procedure, order notes) and header fields: those
  with the study's accession number or none, observed within the window; an order for another
  accession never describes this study;
- demographics, smoking status and known conditions are facts about the patient: the most
  recent one recorded before the study, whatever its age (its time is shown).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.db.models import Q

from inference.fusion.inputs import MEASUREMENT_UNITS, FusionInputs, Measurement
from workstation.clinical.codes import CATALOGUE, smoking_band
from workstation.clinical.intake import IdentifierSystems
from workstation.clinical.models import ClinicalValue, ValueKind
from workstation.clinical.services import study_datetime
from workstation.studies.models import ClinicalContext, Study

LABS = ("crp", "wbc", "procalcitonin")
VITALS = ("temperature", "spo2")
_HISTORY_CODES = (
    "indication",
    "history",
    "requested_procedure",
    "condition",
    "admitting_diagnosis",
)
_PATIENT_FACTS = ("age", "sex", "smoking_status", "body_height", "body_weight", "condition")


def identifier_systems_get() -> IdentifierSystems:
    """The configured mapping of identifier systems to DICOM issuers
    (``CLINICAL_IDENTIFIER_SYSTEMS``), read per message so a changed setting applies."""
    return IdentifierSystems(dict(settings.CLINICAL_IDENTIFIER_SYSTEMS))


@dataclass(frozen=True)
class ContextValue:
    """A value as shown under the context section and as evidence under a finding."""

    code: str
    display: str
    value: str
    unit: str
    source: str
    observed_at: str  # ISO 8601
    abnormal_flag: str = ""
    reference_range: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {
            "code": self.code,
            "display": self.display,
            "value": self.value,
            "unit": self.unit,
            "source": self.source,
            "observed_at": self.observed_at,
            "abnormal_flag": self.abnormal_flag,
            "reference_range": self.reference_range,
        }


@dataclass(frozen=True)
class StudyContext:
    """The study's context: values used (latest per code), the missing inputs as sentences,
    and the same values as the fusion model's inputs."""

    study_time: dt.datetime
    window_hours: int
    values: tuple[ContextValue, ...]
    absent: tuple[str, ...]
    inputs: FusionInputs
    by_code: dict[str, ContextValue] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {
            "study_time": self.study_time.isoformat(),
            "window_hours": self.window_hours,
            "values": [v.as_dict() for v in self.values],
            "absent": list(self.absent),
        }


def _range(row: ClinicalValue) -> str:
    if row.reference_low is None and row.reference_high is None:
        return ""
    low = "" if row.reference_low is None else f"{row.reference_low:g}"
    high = "" if row.reference_high is None else f"{row.reference_high:g}"
    return f"{low}-{high} {row.unit}".strip()


def _shown(row: ClinicalValue) -> ContextValue:
    value = row.value_text if row.value_number is None else f"{row.value_number:g}"
    return ContextValue(
        row.code,
        row.display,
        value,
        row.unit,
        row.source,
        row.observed_at.isoformat(),
        row.abnormal_flag,
        _range(row),
    )


def _legacy_context(study: Study) -> list[ContextValue]:
    """What the draft request API put into ``studies.ClinicalContext`` (source "api"); the
    DICOM header's copy there is read from the header itself instead (no duplicates)."""
    context = ClinicalContext.objects.filter(study=study).exclude(source="dicom").first()
    if context is None:
        return []
    out = []
    stamp = context.updated_at.isoformat()
    if context.age_years is not None:
        out.append(ContextValue("age", "Age", str(context.age_years), "a", context.source, stamp))
    for code, text in (
        ("sex", context.sex),
        ("indication", context.indication),
        ("history", context.history),
    ):
        if text:
            out.append(ContextValue(code, CATALOGUE[code].display, text, "", context.source, stamp))
    return out


def study_context_get(*, study: Study, window_hours: int | None = None) -> StudyContext:
    """The study's context per the module's linking rules."""
    hours = int(window_hours or settings.CLINICAL_WINDOW_HOURS)
    when = study_datetime(study)
    start = when - dt.timedelta(hours=hours)
    in_window = Q(observed_at__gte=start)
    this_order = Q(accession_number="") | Q(accession_number=study.accession_number)
    request = Q(kind=ValueKind.REQUEST)
    rows = (
        ClinicalValue.objects.filter(patient=study.patient, observed_at__lte=when)
        .filter(
            Q(code__in=_PATIENT_FACTS) | (in_window & ~request) | (in_window & request & this_order)
        )
        .order_by("-observed_at", "-received_at")
    )
    latest: dict[str, ContextValue] = {}
    texts: dict[str, list[str]] = {}
    for row in rows:
        shown = _shown(row)
        seen = texts.setdefault(row.code, [])
        if row.code in _HISTORY_CODES and row.value_text and row.value_text not in seen:
            seen.append(row.value_text)
        latest.setdefault(row.code, shown)
    for legacy in _legacy_context(study):
        latest.setdefault(legacy.code, legacy)
        if legacy.code in _HISTORY_CODES and legacy.value not in texts.setdefault(legacy.code, []):
            texts[legacy.code].append(legacy.value)
    if "age" not in latest and study.patient_age_years is not None:
        latest["age"] = ContextValue(
            "age", "Age", str(study.patient_age_years), "a", "dicom", when.isoformat()
        )
    if "age" not in latest and study.patient.birth_date and study.study_date:
        years = (study.study_date - study.patient.birth_date).days // 365
        latest["age"] = ContextValue("age", "Age", str(years), "a", "birth date", when.isoformat())
    if "sex" not in latest and study.patient.sex:
        latest["sex"] = ContextValue("sex", "Sex", study.patient.sex, "", "dicom", when.isoformat())
    return StudyContext(
        study_time=when,
        window_hours=hours,
        values=tuple(latest.values()),
        absent=_absent(latest, texts, hours),
        inputs=_inputs(latest, texts),
        by_code=latest,
    )


def _absent(
    latest: dict[str, ContextValue], texts: dict[str, list[str]], hours: int
) -> tuple[str, ...]:
    out = []
    missing_labs = [CATALOGUE[c].display for c in LABS if c not in latest]
    if len(missing_labs) == len(LABS):
        out.append(f"no labs within {hours} h (CRP, WBC, procalcitonin)")
    elif missing_labs:
        out.append(f"no {', '.join(missing_labs)} within {hours} h")
    missing_vitals = [CATALOGUE[c].display for c in VITALS if c not in latest]
    if len(missing_vitals) == len(VITALS):
        out.append(f"no vital signs within {hours} h (temperature, SpO2)")
    elif missing_vitals:
        out.append(f"no {', '.join(missing_vitals)} within {hours} h")
    if not any(texts.get(c) for c in _HISTORY_CODES):
        out.append("no clinical history or indication")
    for code, line in (
        ("age", "no age"),
        ("sex", "no sex"),
        ("smoking_status", "no smoking status"),
    ):
        if code not in latest:
            out.append(line)
    return tuple(out)


def _number(value: ContextValue | None) -> float | None:
    if value is None:
        return None
    try:
        return float(value.value)
    except ValueError:
        return None


def _inputs(latest: dict[str, ContextValue], texts: dict[str, list[str]]) -> FusionInputs:
    measurements = {}
    for code, unit in MEASUREMENT_UNITS.items():
        shown = latest.get(code)
        number = _number(shown)
        if shown is not None and number is not None and shown.unit == unit:
            measurements[code] = Measurement(
                code,
                number,
                unit,
                shown.source,
                shown.observed_at,
                shown.abnormal_flag,
                shown.reference_range,
            )
    smoking = latest.get("smoking_status")
    sex = latest.get("sex")
    history = ". ".join(text for code in _HISTORY_CODES for text in texts.get(code, []))
    return FusionInputs(
        age_years=_number(latest.get("age")),
        sex=(sex.value[:1].upper() if sex else ""),
        smoking=smoking_band(smoking.value) if smoking else "",
        history_text=history,
        measurements=measurements,
    )
