"""Services that write clinical values (every intake path ends here) and read the DICOM
header fields of a study into them."""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pydicom
from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.db import transaction
from pydicom.dataset import Dataset

from workstation.clinical.codes import CATALOGUE
from workstation.clinical.intake import PatientRef, Quantity, ValueIn, aware, converted
from workstation.clinical.models import ClinicalValue, ValueKind, ValueSource
from workstation.dicom.ingest import DRAFTABLE_MODALITIES
from workstation.studies.models import Instance, Patient, Study
from workstation.studies.storage import resolve

logger = logging.getLogger(__name__)


def _patient(ref: PatientRef) -> Patient:
    patient, created = Patient.objects.get_or_create(
        patient_id=ref.patient_id,
        issuer=ref.issuer,
        defaults={"name": ref.name, "birth_date": ref.birth_date, "sex": ref.sex},
    )
    if not created:
        # Fill what the first source lacked; never overwrite what is there.
        updates = {
            field: value
            for field, value in (
                ("name", ref.name),
                ("birth_date", ref.birth_date),
                ("sex", ref.sex),
            )
            if value not in (None, "") and getattr(patient, field) in (None, "")
        }
        if updates:
            Patient.objects.filter(pk=patient.pk).update(**updates)
    return patient


def clinical_values_record(
    *,
    values: Sequence[ValueIn],
    source: ValueSource,
    patients: Sequence[PatientRef] = (),
    entered_by: AbstractBaseUser | AnonymousUser | None = None,
) -> list[ClinicalValue]:
    """Store a fully parsed message in one transaction (all of it or, on any error, none).

    A value with a ``source_ref`` already stored from the same source is updated in place
    (a re-sent HL7 message or a re-POSTed FHIR resource does not double it). Patients are
    matched by identifier and issuer, and created when a value arrives before any image.
    """
    stored: list[ClinicalValue] = []
    person = entered_by if entered_by is not None and entered_by.is_authenticated else None
    with transaction.atomic():
        by_key: dict[tuple[str, str], Patient] = {}
        for ref in [*patients, *(v.patient for v in values)]:
            key = (ref.patient_id, ref.issuer)
            if key not in by_key:
                by_key[key] = _patient(ref)
        for value in values:
            fields = {
                "accession_number": value.accession_number[:16],
                "kind": value.kind.value,
                "display": value.display[:200],
                "coding_system": value.coding_system[:128],
                "coding_code": value.coding_code[:64],
                "value_number": value.value_number,
                "value_text": value.value_text,
                "unit": value.unit[:32],
                "reference_low": value.reference_low,
                "reference_high": value.reference_high,
                "abnormal_flag": value.abnormal_flag[:4],
                "observed_at": value.observed_at,
                "entered_by": person,
            }
            patient = by_key[(value.patient.patient_id, value.patient.issuer)]
            if value.source_ref:
                row, _ = ClinicalValue.objects.update_or_create(
                    patient=patient,
                    source=source.value,
                    source_ref=value.source_ref[:160],
                    code=value.code,
                    defaults=fields,
                )
            else:
                row = ClinicalValue.objects.create(
                    patient=patient, source=source.value, code=value.code, **fields
                )
            stored.append(row)
    return stored


def study_datetime(study: Study) -> dt.datetime:
    """When the study was acquired (StudyDate/StudyTime, server time zone), else received."""
    if study.study_date is None:
        return study.received_at
    return aware(dt.datetime.combine(study.study_date, study.study_time or dt.time()))


# (DICOM keyword, catalogue code, kind); numbers are handled by _header_number.
_HEADER_TEXT: tuple[tuple[str, str, ValueKind], ...] = (
    ("PatientSex", "sex", ValueKind.DEMOGRAPHIC),
    ("AdditionalPatientHistory", "history", ValueKind.REQUEST),
    ("ReasonForTheRequestedProcedure", "indication", ValueKind.REQUEST),
    ("RequestedProcedureDescription", "requested_procedure", ValueKind.REQUEST),
    ("AdmittingDiagnosesDescription", "admitting_diagnosis", ValueKind.CONDITION),
)


def _header(ds: Dataset, keyword: str) -> object:
    """A top-level attribute, else the first Request Attributes Sequence item's."""
    value = ds.get(keyword)
    if value in (None, "") and "RequestAttributesSequence" in ds and ds.RequestAttributesSequence:
        value = ds.RequestAttributesSequence[0].get(keyword)
    return value


def _age_years(raw: str) -> float | None:
    raw = raw.strip()
    if len(raw) == 4 and raw[:3].isdigit():
        divisor = {"Y": 1, "M": 12, "W": 52, "D": 365}.get(raw[3].upper())
        if divisor:
            return int(raw[:3]) / divisor
    return None


def header_values(ds: Dataset, *, patient: PatientRef, study: Study) -> list[ValueIn]:
    """The clinical fields of a study's DICOM header as values (source: the instance)."""
    when = study_datetime(study)
    ref = str(ds.get("SOPInstanceUID", ""))
    common: dict[str, Any] = {
        "patient": patient,
        "observed_at": when,
        "accession_number": study.accession_number,
    }
    out: list[ValueIn] = []
    age = _age_years(str(ds.get("PatientAge", "") or ""))
    if age is not None:
        out.append(
            ValueIn(
                kind=ValueKind.DEMOGRAPHIC,
                code="age",
                display="Age",
                value_number=round(age, 2),
                unit="a",
                coding_system="DICOM",
                coding_code="PatientAge",
                source_ref=ref,
                **common,
            )
        )
    for keyword, code, kind in _HEADER_TEXT:
        raw = _header(ds, keyword)
        text = (
            "\\".join(str(v) for v in raw) if isinstance(raw, list | tuple) else str(raw or "")
        ).strip()
        if text:
            out.append(
                ValueIn(
                    kind=kind,
                    code=code,
                    display=CATALOGUE[code].display,
                    value_text=text[:10240],
                    coding_system="DICOM",
                    coding_code=keyword,
                    source_ref=ref,
                    **common,
                )
            )
    for keyword, code, unit in (
        ("PatientSize", "body_height", "m"),
        ("PatientWeight", "body_weight", "kg"),
    ):
        raw = ds.get(keyword)
        try:
            number = float(raw) if raw not in (None, "") else None
        except (TypeError, ValueError):
            number = None
        if number is not None and number > 0:
            stored = converted(CATALOGUE[code], Quantity(number, unit), keyword)
            out.append(
                ValueIn(
                    kind=ValueKind.OBSERVATION,
                    code=code,
                    display=CATALOGUE[code].display,
                    coding_system="DICOM",
                    coding_code=keyword,
                    source_ref=ref,
                    **common,
                    **stored,
                )
            )
    return out


def clinical_values_from_dicom(*, study: Study) -> int:
    """Record the clinical header fields of the study's first radiograph (idempotent: keyed
    by its SOP Instance UID). Returns how many values it holds; 0 when unreadable."""
    instance = (
        Instance.objects.filter(series__study=study, series__modality__in=DRAFTABLE_MODALITIES)
        .order_by("series__series_number", "instance_number", "pk")
        .first()
    ) or Instance.objects.filter(series__study=study).order_by("pk").first()
    if instance is None:
        return 0
    path = resolve(Path(settings.DICOM_STORAGE_DIR), instance.storage_path)
    try:
        ds = pydicom.dcmread(path, stop_before_pixels=True)
    except (OSError, pydicom.errors.InvalidDicomError) as exc:
        logger.warning("header of %s unreadable: %s", instance.sop_uid, exc)
        return 0
    patient = study.patient
    ref = PatientRef(patient.patient_id, patient.issuer)
    values = header_values(ds, patient=ref, study=study)
    clinical_values_record(values=values, source=ValueSource.DICOM)
    return len(values)
