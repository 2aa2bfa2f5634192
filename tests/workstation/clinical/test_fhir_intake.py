"""POST /api/v1/fhir/: FHIR R4 clinical context stored with source, time, UCUM unit, range
and flag; malformed payloads answered 400 with the reason and nothing stored."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from rest_framework.test import APIClient

from tests.workstation.clinical.fixtures import ISSUER, PATIENT_ID, fhir_bundle
from workstation.clinical.models import ClinicalValue
from workstation.studies.models import Patient

pytestmark = pytest.mark.django_db
URL = "/api/v1/fhir/"


def _post(user: object, payload: Any) -> Any:
    client = APIClient()
    client.force_authenticate(user)
    return client.post(URL, payload, format="json")


def test_it_stores_a_transaction_bundle_with_units_ranges_flags_and_times(reader: object) -> None:
    response = _post(reader, fhir_bundle())

    assert response.status_code == 200, response.content
    body = response.json()
    assert body["type"] == "transaction-response" and len(body["entry"]) == 9
    patient = Patient.objects.get(patient_id=PATIENT_ID, issuer=ISSUER)
    assert patient.sex == "M" and str(patient.birth_date) == "1952-05-04"
    values = {v.code: v for v in ClinicalValue.objects.filter(patient=patient)}
    crp = values["crp"]
    assert (crp.value_number, crp.unit, crp.reference_high, crp.abnormal_flag) == (
        160.0,
        "mg/L",
        5.0,
        "H",
    )
    assert crp.source == "fhir" and crp.accession_number == "ACC-77"
    assert crp.observed_at.isoformat() == "2024-03-01T08:30:00+00:00"
    assert (
        values["temperature"].value_number == pytest.approx(39.0)
        and values["temperature"].unit == "Cel"
    )
    assert (values["wbc"].value_number, values["wbc"].unit) == (15.2, "10*9/L")
    assert values["procalcitonin"].abnormal_flag == "H"  # from the catalogue's range (0-0.5)
    assert values["spo2"].abnormal_flag == "L"
    assert values["smoking_status"].value_text == "8517006"
    assert values["indication"].value_text == "fever and productive cough"
    assert values["history"].value_text == "crackles right base"
    assert values["condition"].value_text == "COPD"


def test_a_crp_in_mg_per_dl_is_converted_to_mg_per_l(reader: object) -> None:
    assert _post(reader, fhir_bundle(crp_unit="mg/dL")).status_code == 200
    crp = ClinicalValue.objects.get(code="crp")
    assert (crp.value_number, crp.unit, crp.reference_high) == (160.0, "mg/L", 5.0)


def test_a_resent_bundle_updates_instead_of_doubling(reader: object) -> None:
    bundle = fhir_bundle()
    for entry in bundle["entry"]:
        entry["resource"]["id"] = entry["fullUrl"].split(":")[-1]
    assert _post(reader, bundle).status_code == 200
    count = ClinicalValue.objects.count()
    assert _post(reader, bundle).status_code == 200
    assert ClinicalValue.objects.count() == count


def _broken(change: Any) -> dict[str, Any]:
    bundle = copy.deepcopy(fhir_bundle())
    change(bundle)
    return bundle


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        (
            _broken(
                lambda b: b["entry"][4]["resource"]["valueQuantity"].update(
                    code="mmol/L", unit="mmol/L"
                )
            ),
            "entry[4].Observation.valueQuantity.code: unit 'mmol/L' for Leukocytes cannot be "
            "converted",
        ),
        (
            _broken(lambda b: b["entry"][5]["resource"].pop("effectiveDateTime")),
            "entry[5].Observation.effectiveDateTime: no time",
        ),
        (
            _broken(
                lambda b: b["entry"][3]["resource"].update(subject={"reference": "Patient/nobody"})
            ),
            "entry[3].Observation.subject: cannot resolve Patient/nobody",
        ),
        (
            _broken(lambda b: b["entry"][0]["resource"].pop("identifier")),
            "entry[0].Patient.identifier: a Patient needs an identifier",
        ),
        (
            _broken(lambda b: b["entry"][6]["resource"]["valueQuantity"].update(value="lots")),
            "$.Bundle.entry.6.resource.valueQuantity.value",
        ),
        (_broken(lambda b: b.update(type="document")), "$.Bundle.type: 'document' is not accepted"),
        ({"resourceType": "Medication"}, "$.resourceType: 'Medication' is not accepted"),
        ([1, 2, 3], "$: not a JSON object"),
    ],
)
def test_a_malformed_payload_is_400_with_the_reason_and_stores_nothing(
    reader: object, payload: Any, reason: str
) -> None:
    response = _post(reader, payload)

    assert response.status_code == 400
    issue = response.json()["issue"][0]
    assert reason in issue["diagnostics"], issue
    assert ClinicalValue.objects.count() == 0
    assert not Patient.objects.filter(patient_id=PATIENT_ID).exists()


def test_a_single_observation_with_a_logical_subject_is_accepted(reader: object) -> None:
    observation = fhir_bundle()["entry"][3]["resource"] | {
        "subject": {"identifier": {"value": "MRN-1", "assigner": {"display": ISSUER}}}
    }
    response = _post(reader, observation)
    assert response.status_code == 200
    assert response.json()["resourceType"] == "OperationOutcome"
    assert ClinicalValue.objects.get().patient.patient_id == "MRN-1"


def test_roles_without_the_right_cannot_post_clinical_data(
    clinician: object, manager: object
) -> None:
    assert _post(clinician, fhir_bundle()).status_code == 403
    assert _post(manager, fhir_bundle()).status_code == 403
    assert ClinicalValue.objects.count() == 0
