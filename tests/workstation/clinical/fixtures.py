"""FHIR and HL7 v2 messages for the intake tests (well-formed and malformed), and a lab
result recorded for a stored study."""

from __future__ import annotations

import datetime as dt
from typing import Any

from workstation.clinical.intake import PatientRef, ValueIn
from workstation.clinical.models import ValueKind, ValueSource
from workstation.clinical.services import clinical_values_record
from workstation.studies.models import Study

PATIENT_ID = "MRN-7001"
ISSUER = "HOSP"


def fhir_bundle(*, crp_unit: str = "mg/L", bundle_type: str = "transaction") -> dict[str, Any]:
    """A transaction: Patient, ServiceRequest (accession ACC-77), Condition and labs/vitals."""
    subject = {"reference": "urn:uuid:patient-1"}
    based_on = [{"reference": "urn:uuid:order-1"}]

    def observation(
        loinc: str, value: float, unit: str, *, low: float | None = None, high: float | None = None
    ) -> dict[str, Any]:
        resource: dict[str, Any] = {
            "resourceType": "Observation",
            "status": "final",
            "code": {"coding": [{"system": "http://loinc.org", "code": loinc}]},
            "subject": subject,
            "basedOn": based_on,
            "effectiveDateTime": "2024-03-01T08:30:00+00:00",
            "valueQuantity": {
                "value": value,
                "unit": unit,
                "system": "http://unitsofmeasure.org",
                "code": unit,
            },
        }
        if low is not None or high is not None:
            resource["referenceRange"] = [
                {
                    **({"low": {"value": low, "code": unit}} if low is not None else {}),
                    **({"high": {"value": high, "code": unit}} if high is not None else {}),
                }
            ]
        return resource

    entries = [
        {
            "fullUrl": "urn:uuid:patient-1",
            "resource": {
                "resourceType": "Patient",
                "identifier": [
                    {"use": "usual", "value": PATIENT_ID, "assigner": {"display": ISSUER}}
                ],
                "gender": "male",
                "birthDate": "1952-05-04",
            },
        },
        {
            "fullUrl": "urn:uuid:order-1",
            "resource": {
                "resourceType": "ServiceRequest",
                "status": "active",
                "intent": "order",
                "identifier": [
                    {
                        "type": {
                            "coding": [
                                {
                                    "system": "http://terminology.hl7.org/CodeSystem/v2-0203",
                                    "code": "ACSN",
                                }
                            ]
                        },
                        "value": "ACC-77",
                    }
                ],
                "code": {"text": "XR chest PA"},
                "subject": subject,
                "authoredOn": "2024-03-01T08:00:00+00:00",
                "reasonCode": [{"text": "fever and productive cough"}],
                "note": [{"text": "crackles right base"}],
            },
        },
        {
            "fullUrl": "urn:uuid:condition-1",
            "resource": {
                "resourceType": "Condition",
                "code": {
                    "coding": [
                        {"system": "http://snomed.info/sct", "code": "13645005", "display": "COPD"}
                    ]
                },
                "subject": subject,
                "recordedDate": "2020-01-01",
            },
        },
        {
            "fullUrl": "urn:uuid:crp",
            "resource": observation("1988-5", 16.0, crp_unit, low=0, high=0.5)
            if crp_unit == "mg/dL"
            else observation("1988-5", 160.0, crp_unit, low=0, high=5),
        },
        {
            "fullUrl": "urn:uuid:wbc",
            "resource": observation("6690-2", 15.2, "10*3/uL", low=4, high=11),
        },
        {"fullUrl": "urn:uuid:pct", "resource": observation("33959-8", 1.4, "ng/mL")},
        {"fullUrl": "urn:uuid:spo2", "resource": observation("59408-5", 91.0, "%")},
        {"fullUrl": "urn:uuid:temp", "resource": observation("8310-5", 102.2, "[degF]")},
        {
            "fullUrl": "urn:uuid:smoking",
            "resource": {
                "resourceType": "Observation",
                "status": "final",
                "code": {"coding": [{"system": "http://loinc.org", "code": "72166-2"}]},
                "subject": subject,
                "effectiveDateTime": "2024-02-01",
                "valueCodeableConcept": {
                    "coding": [
                        {
                            "system": "http://snomed.info/sct",
                            "code": "8517006",
                            "display": "Ex-smoker",
                        }
                    ]
                },
            },
        },
    ]
    return {"resourceType": "Bundle", "type": bundle_type, "entry": entries}


def hl7(*segments: str) -> str:
    return "\r".join(segments) + "\r"


MSH_ORU = "MSH|^~\\&|LIS|HOSP|RADWS|RAD|20240301093000||ORU^R01|LAB0001|P|2.5.1"
MSH_ORM = "MSH|^~\\&|RIS|HOSP|RADWS|RAD|20240301080000||ORM^O01|ORD0001|P|2.5.1"
PID = f"PID|1||{PATIENT_ID}^^^{ISSUER}^MR||DOE^JOHN||19520504|M"

ORU = hl7(
    MSH_ORU,
    PID,
    "OBR|1||LAB-9|CBC^Blood count|||20240301083000",
    "OBX|1|NM|1988-5^CRP^LN||160|mg/L|0-5|H|||F|||20240301083000",
    "OBX|2|NM|6690-2^WBC^LN||15.2|10*3/uL|4.0-11.0|H|||F|||20240301083000",
    "OBX|3|NM|TEMP^Temperature^L||39.0|Cel|||||F|||20240301084500",
    "OBX|4|NM|33959-8^Procalcitonin^LN||0.1|ng/mL|<0.5||||X",
)
ORM = hl7(
    MSH_ORM,
    PID,
    "ORC|NW|ORD-1",
    "OBR|1|ORD-1||CXR^XR chest PA|||20240301080000||||||Crackles right base, febrile|||||ACC-77"
    "|||||||||||||fever and cough",
    "NTE|1||Known COPD, ex-smoker",
    "DG1|1|I10|J44.9^COPD^I10|Chronic obstructive pulmonary disease",
)
ORU_BAD_UNIT = hl7(
    MSH_ORU.replace("LAB0001", "LAB0002"),
    PID,
    "OBR|1||LAB-10|CBC^Blood count|||20240301083000",
    "OBX|1|NM|6690-2^WBC^LN||12.0|10*3/uL|4.0-11.0|H|||F",
    "OBX|2|NM|1988-5^CRP^LN||160|mmol/L|0-5|H|||F",
)
ADT = hl7("MSH|^~\\&|ADT|HOSP|RADWS|RAD|20240301093000||ADT^A01|ADT0001|P|2.5.1", PID)


def crp_recorded(study: Study, *, value: float = 160.0, hours_before: float = 5.0) -> None:
    """A raised CRP (flag H) from HL7 v2, taken ``hours_before`` the study's acquisition."""
    taken = dt.datetime.combine(study.study_date, study.study_time, tzinfo=dt.UTC)  # type: ignore[arg-type]
    clinical_values_record(
        values=[
            ValueIn(
                patient=PatientRef(study.patient.patient_id),
                kind=ValueKind.OBSERVATION,
                code="crp",
                display="C-reactive protein",
                observed_at=taken - dt.timedelta(hours=hours_before),
                value_number=value,
                unit="mg/L",
                abnormal_flag="H",
                source_ref="LAB1:OBX1",
            )
        ],
        source=ValueSource.HL7,
    )
