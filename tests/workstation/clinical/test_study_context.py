"""workstation.clinical.selectors/services: values linked to a study by patient, issuer and
accession within the window, header fields read from DICOM, missing inputs named, and the
hand-entry form."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from django.test import Client
from django.utils import timezone

from tests.conftest import LiveScp
from tests.factories import cr_dataset, write
from tests.reports.factories import study_make
from workstation.clinical.intake import PatientRef, ValueIn
from workstation.clinical.models import ClinicalValue, ValueKind, ValueSource
from workstation.clinical.selectors import study_context_get
from workstation.clinical.services import clinical_values_from_dicom, clinical_values_record
from workstation.dicom.scu import send_files
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
    number: float,
    hours_before: float,
    *,
    accession: str = "",
    unit: str = "mg/L",
) -> ValueIn:
    patient = PatientRef(study.patient.patient_id, study.patient.issuer)
    return ValueIn(
        patient=patient,
        kind=ValueKind.OBSERVATION,
        code=code,
        display=code,
        observed_at=STUDY_TIME - dt.timedelta(hours=hours_before),
        value_number=number,
        unit=unit,
        accession_number=accession,
    )


@pytest.mark.django_db
def test_only_labs_inside_the_window_before_the_study_are_used() -> None:
    study = _study()
    clinical_values_record(
        values=[
            _value(study, "crp", 200.0, hours_before=80),  # too old
            _value(study, "crp", 40.0, hours_before=10),
            _value(study, "wbc", 9.0, hours_before=-2, unit="10*9/L"),  # after the study
        ],
        source=ValueSource.HL7,
    )

    context = study_context_get(study=study)

    assert context.by_code["crp"].value == "40" and context.by_code["crp"].source == "hl7"
    assert context.inputs.measurements["crp"].value == 40.0
    assert "wbc" not in context.by_code
    assert "no Leukocytes, Procalcitonin within 72 h" in context.absent
    assert "no vital signs within 72 h (temperature, SpO2)" in context.absent


@pytest.mark.django_db
def test_no_values_at_all_is_said_explicitly_and_the_window_is_configurable(
    settings: object,
) -> None:
    study = _study()
    clinical_values_record(
        values=[_value(study, "crp", 200.0, hours_before=80)], source=ValueSource.HL7
    )

    context = study_context_get(study=study)
    assert context.absent[:3] == (
        "no labs within 72 h (CRP, WBC, procalcitonin)",
        "no vital signs within 72 h (temperature, SpO2)",
        "no clinical history or indication",
    )
    assert context.inputs.measurements == {}

    settings.CLINICAL_WINDOW_HOURS = 96  # type: ignore[attr-defined]
    assert study_context_get(study=study).by_code["crp"].value == "200"


@pytest.mark.django_db
def test_labs_ordered_under_another_accession_still_count() -> None:
    study = _study()
    clinical_values_record(
        values=[_value(study, "crp", 90.0, hours_before=4, accession="LAB-9")],
        source=ValueSource.HL7,
    )
    assert study_context_get(study=study).inputs.measurements["crp"].value == 90.0


@pytest.mark.django_db
def test_a_request_for_another_accession_does_not_describe_this_study() -> None:
    study = _study()
    patient = PatientRef(study.patient.patient_id, study.patient.issuer)
    common = {
        "patient": patient,
        "kind": ValueKind.REQUEST,
        "code": "indication",
        "display": "Reason",
    }
    clinical_values_record(
        values=[
            ValueIn(
                value_text="chest pain",
                observed_at=STUDY_TIME - dt.timedelta(hours=1),
                accession_number="OTHER",
                **common,
            ),
            ValueIn(
                value_text="fever",
                observed_at=STUDY_TIME - dt.timedelta(hours=2),
                accession_number=study.accession_number,
                **common,
            ),
        ],
        source=ValueSource.FHIR,
    )

    context = study_context_get(study=study)

    assert context.by_code["indication"].value == "fever"
    assert context.inputs.history_text == "fever"


@pytest.mark.django_db
def test_another_patient_with_the_same_id_but_another_issuer_is_not_linked() -> None:
    study = _study()
    other = PatientRef(study.patient.patient_id, "OTHER-HOSPITAL")
    clinical_values_record(
        values=[
            ValueIn(
                patient=other,
                kind=ValueKind.OBSERVATION,
                code="crp",
                display="CRP",
                observed_at=STUDY_TIME - dt.timedelta(hours=1),
                value_number=300.0,
                unit="mg/L",
            )
        ],
        source=ValueSource.HL7,
    )
    assert "crp" not in study_context_get(study=study).by_code


def test_the_header_fields_of_a_radiograph_become_values_with_their_source(
    live_scp: LiveScp, tmp_path: Path
) -> None:
    ds = cr_dataset(
        patient_id="PAT-HDR",
        PatientSize="1.82",
        PatientWeight="91",
        AdditionalPatientHistory="smoker, weight loss",
        RequestedProcedureDescription="XR chest PA",
        AdmittingDiagnosesDescription="suspected lung cancer",
    )
    results = send_files(
        [write(ds, tmp_path / "a.dcm")],
        host=live_scp.host,
        port=live_scp.port,
        called_ae_title=live_scp.ae_title,
    )
    assert [r.status for r in results] == [0]
    study = Study.objects.get(study_uid=ds.StudyInstanceUID)

    assert clinical_values_from_dicom(study=study) == 8
    assert clinical_values_from_dicom(study=study) == 8  # idempotent
    values = {v.code: v for v in ClinicalValue.objects.filter(patient=study.patient)}
    assert len(values) == 8
    assert (values["body_height"].value_number, values["body_height"].unit) == (182.0, "cm")
    assert (values["body_weight"].value_number, values["body_weight"].unit) == (91.0, "kg")
    assert values["age"].value_number == 66.0
    assert values["indication"].value_text == "shortness of breath"
    assert values["admitting_diagnosis"].value_text == "suspected lung cancer"
    assert {v.source for v in values.values()} == {"dicom"}
    context = study_context_get(study=study)
    assert context.inputs.age_years == 66.0 and context.inputs.sex == "F"
    assert "smoker, weight loss" in context.inputs.history_text


@pytest.mark.django_db
def test_a_radiologist_adds_a_value_by_hand_and_a_bad_unit_is_refused(reader: object) -> None:
    study = _study()
    client = Client()
    client.force_login(reader)  # type: ignore[arg-type]
    url = f"/studies/{study.study_uid}/clinical/"
    observed = timezone.localtime(STUDY_TIME - dt.timedelta(hours=3)).strftime("%Y-%m-%dT%H:%M")

    bad = client.post(
        url, {"code": "temperature", "value": "101.3", "unit": "kelvins", "observed_at": observed}
    )
    assert bad.status_code == 400
    assert (
        "unit &#x27;kelvins&#x27; for Body temperature cannot be converted" in bad.content.decode()
    )
    assert ClinicalValue.objects.count() == 0

    good = client.post(
        url, {"code": "temperature", "value": "101.3", "unit": "[degF]", "observed_at": observed}
    )
    assert good.status_code == 302
    value = ClinicalValue.objects.get()
    assert (round(value.value_number or 0, 1), value.unit, value.abnormal_flag, value.source) == (
        38.5,
        "Cel",
        "H",
        "manual",
    )
    assert value.entered_by == reader

    page = client.get(url)
    assert page.status_code == 200
    assert (
        "Body temperature" in page.content.decode()
        and "no labs within 72 h" in page.content.decode()
    )


@pytest.mark.django_db
def test_clinicians_cannot_use_the_entry_form(clinician: object) -> None:
    study = _study()
    client = Client()
    client.force_login(clinician)  # type: ignore[arg-type]
    assert client.get(f"/studies/{study.study_uid}/clinical/").status_code == 403
