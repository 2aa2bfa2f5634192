"""inference.services.clinical_context_of: the labs, vitals and smoking status linked to a
study (inside the clinical window) reach the reference model's prompt as flags."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from inference.services import clinical_context_of
from tests.reports.factories import study_make
from workstation.clinical.intake import PatientRef, ValueIn
from workstation.clinical.models import ValueKind, ValueSource
from workstation.clinical.services import clinical_values_record
from workstation.studies.models import Study

STUDY_TIME = dt.datetime(2024, 3, 1, 10, 0, tzinfo=dt.UTC)


def _study() -> Study:
    study = study_make()
    Study.objects.filter(pk=study.pk).update(
        study_date=timezone.localtime(STUDY_TIME).date(),
        study_time=timezone.localtime(STUDY_TIME).time(),
    )
    study.refresh_from_db()
    return study


def _value(
    study: Study,
    code: str,
    hours_before: float,
    *,
    number: float | None = None,
    unit: str = "",
    abnormal_flag: str = "",
    value_text: str = "",
) -> ValueIn:
    return ValueIn(
        patient=PatientRef(study.patient.patient_id, study.patient.issuer),
        kind=ValueKind.OBSERVATION,
        code=code,
        display=code,
        observed_at=STUDY_TIME - dt.timedelta(hours=hours_before),
        value_number=number,
        value_text=value_text,
        unit=unit,
        abnormal_flag=abnormal_flag,
    )


@pytest.mark.django_db
def test_it_puts_the_flags_of_the_labs_inside_the_window_into_the_prompt() -> None:
    study = _study()
    clinical_values_record(
        values=[
            _value(study, "crp", 6, number=160.0, unit="mg/L"),
            _value(study, "temperature", 2, number=38.9, unit="Cel"),
            _value(study, "spo2", 2, number=97.0, unit="%"),
            # Flagged low by the sending laboratory's own range: its flag wins.
            _value(study, "procalcitonin", 6, number=0.04, unit="ng/mL", abnormal_flag="L"),
            _value(study, "wbc", 200, number=19.0, unit="10*9/L"),  # outside the window
            _value(study, "smoking_status", 2000, value_text="Current every day smoker"),
        ],
        source=ValueSource.HL7,
    )

    context = clinical_context_of(study)

    assert context.labs == (
        ("crp", "high"),
        ("procalcitonin", "low"),
        ("spo2", "normal"),
        ("temperature", "high"),
    )
    assert context.smoking == "current"
    prompt = context.as_prompt()
    assert "current smoker, labs: crp high, procalcitonin low, spo2 normal, temperature high" in (
        prompt
    )
    assert "wbc" not in prompt


@pytest.mark.django_db
def test_a_study_without_observations_has_no_labs_in_its_prompt() -> None:
    context = clinical_context_of(_study())

    assert context.labs == () and context.smoking == ""
    assert "labs" not in context.as_prompt()


@pytest.mark.django_db
def test_the_linked_history_reaches_the_prompt_when_the_request_gave_none() -> None:
    study = _study()
    clinical_values_record(
        values=[
            ValueIn(
                patient=PatientRef(study.patient.patient_id, study.patient.issuer),
                kind=ValueKind.REQUEST,
                code="history",
                display="Clinical history",
                observed_at=STUDY_TIME - dt.timedelta(hours=1),
                value_text="productive cough and fever for three days",
            )
        ],
        source=ValueSource.DICOM,
    )

    prompt = clinical_context_of(study).as_prompt()

    assert "history: productive cough and fever for three days" in prompt
