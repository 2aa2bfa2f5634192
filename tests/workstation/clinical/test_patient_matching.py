"""Patient matching by identifier system (issue 10): a FHIR Patient.identifier.system (or an
HL7 v2 PID-3.4 universal id) becomes the DICOM IssuerOfPatientID through
CLINICAL_IDENTIFIER_SYSTEMS; an unknown system with no assigner is refused with nothing
stored; the same identifier value under two issuers stays two patients."""

from __future__ import annotations

import copy
from typing import Any

import hl7
import pytest
from django.contrib.auth.base_user import AbstractBaseUser
from rest_framework.test import APIClient

from tests.workstation.clinical.fixtures import MSH_ORU, PATIENT_ID, fhir_bundle
from tests.workstation.clinical.fixtures import hl7 as message
from workstation.clinical.hl7v2 import hl7_message_handle
from workstation.clinical.models import ClinicalValue
from workstation.studies.models import Patient

pytestmark = pytest.mark.django_db
URL = "/api/v1/fhir/"
HOSP_OID = "urn:oid:1.2.3.4"
OTHER_URI = "http://other-hospital.org/mrn"


@pytest.fixture(autouse=True)
def _systems(settings: Any) -> None:
    settings.CLINICAL_IDENTIFIER_SYSTEMS = {HOSP_OID: "HOSP", OTHER_URI: "OTHER"}


def _post(user: AbstractBaseUser, payload: Any) -> Any:
    client = APIClient()
    client.force_authenticate(user)
    return client.post(URL, payload, format="json")


def _bundle(identifier: dict[str, Any]) -> dict[str, Any]:
    bundle = copy.deepcopy(fhir_bundle())
    bundle["entry"][0]["resource"]["identifier"] = [identifier]
    return bundle


def test_it_matches_the_studys_patient_by_identifier_system(reader: AbstractBaseUser) -> None:
    study_patient = Patient.objects.create(patient_id=PATIENT_ID, issuer="HOSP")

    response = _post(reader, _bundle({"system": HOSP_OID, "value": PATIENT_ID}))

    assert response.status_code == 200, response.content
    assert Patient.objects.count() == 1
    assert ClinicalValue.objects.filter(patient=study_patient).count() == 10
    assert not ClinicalValue.objects.exclude(patient=study_patient).exists()


def test_it_prefers_the_identifier_with_a_configured_system(reader: AbstractBaseUser) -> None:
    bundle = _bundle({"use": "official", "system": "urn:oid:9.9.9", "value": "NAT-1"})
    bundle["entry"][0]["resource"]["identifier"].append({"system": HOSP_OID, "value": PATIENT_ID})

    assert _post(reader, bundle).status_code == 200
    assert list(Patient.objects.values_list("patient_id", "issuer")) == [(PATIENT_ID, "HOSP")]


def test_it_refuses_an_unknown_system_without_an_assigner_and_stores_nothing(
    reader: AbstractBaseUser,
) -> None:
    response = _post(reader, _bundle({"system": "http://elsewhere.org/mrn", "value": PATIENT_ID}))

    assert response.status_code == 400
    issue = response.json()["issue"][0]
    assert issue["expression"] == ["entry[0].Patient.identifier[0].system"]
    assert "http://elsewhere.org/mrn" in issue["diagnostics"]
    assert "CLINICAL_IDENTIFIER_SYSTEMS" in issue["diagnostics"]
    assert not Patient.objects.exists() and not ClinicalValue.objects.exists()


def test_an_unknown_system_whose_assigner_names_the_issuer_is_accepted(
    reader: AbstractBaseUser,
) -> None:
    identifier = {
        "system": "http://elsewhere.org/mrn",
        "value": PATIENT_ID,
        "assigner": {"display": "ELSEWHERE"},
    }

    assert _post(reader, _bundle(identifier)).status_code == 200
    assert Patient.objects.get().issuer == "ELSEWHERE"


def test_a_logical_subject_reference_is_matched_by_its_system(reader: AbstractBaseUser) -> None:
    observation = copy.deepcopy(fhir_bundle()["entry"][3]["resource"])
    observation["subject"] = {"identifier": {"system": OTHER_URI, "value": PATIENT_ID}}
    observation.pop("basedOn")

    assert _post(reader, observation).status_code == 200
    assert ClinicalValue.objects.get().patient.issuer == "OTHER"


def test_the_same_value_under_two_issuers_stays_two_patients(reader: AbstractBaseUser) -> None:
    hosp = Patient.objects.create(patient_id=PATIENT_ID, issuer="HOSP")
    other = Patient.objects.create(patient_id=PATIENT_ID, issuer="OTHER")

    assert _post(reader, _bundle({"system": HOSP_OID, "value": PATIENT_ID})).status_code == 200
    oru = message(
        MSH_ORU,
        f"PID|1||{PATIENT_ID}^^^OTH&{OTHER_URI}&URI^MR||DOE^JANE||19700101|F",
        "OBR|1||LAB-9|CBC^Blood count|||20240301083000",
        "OBX|1|NM|1988-5^CRP^LN||3|mg/L|0-5|N|||F|||20240301083000",
    )
    assert str(hl7.parse(hl7_message_handle(oru.encode())).segment("MSA")(1)) == "AA"

    assert Patient.objects.count() == 2
    assert ClinicalValue.objects.get(patient=hosp, code="crp").value_number == 160.0
    assert ClinicalValue.objects.get(patient=other, code="crp").value_number == 3.0


def test_an_hl7_pid3_with_an_iso_oid_matches_like_a_fhir_system() -> None:
    patient = Patient.objects.create(patient_id="MRN-9", issuer="HOSP")
    oru = message(
        MSH_ORU,
        "PID|1||NHS-1^^^NHS^NH~MRN-9^^^LAB&1.2.3.4&ISO^MR||DOE^JOHN||19520504|M",
        "OBR|1||LAB-9|CBC^Blood count|||20240301083000",
        "OBX|1|NM|6690-2^WBC^LN||15.2|10*3/uL|4.0-11.0|H|||F|||20240301083000",
    )

    assert str(hl7.parse(hl7_message_handle(oru.encode())).segment("MSA")(1)) == "AA"
    assert ClinicalValue.objects.get().patient == patient


def test_an_hl7_pid3_with_an_unknown_universal_id_and_no_namespace_is_refused() -> None:
    oru = message(
        MSH_ORU,
        "PID|1||MRN-9^^^&9.9.9&ISO^MR||DOE^JOHN||19520504|M",
        "OBR|1||LAB-9|CBC^Blood count|||20240301083000",
        "OBX|1|NM|6690-2^WBC^LN||15.2|10*3/uL|4.0-11.0|H|||F|||20240301083000",
    )

    msa = hl7.parse(hl7_message_handle(oru.encode())).segment("MSA")
    assert str(msa(1)) == "AE" and "CLINICAL_IDENTIFIER_SYSTEMS" in str(msa(3))
    assert not Patient.objects.exists() and not ClinicalValue.objects.exists()
