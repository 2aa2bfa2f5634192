"""Signed reports as HL7 FHIR R4 resources, built and validated with ``fhir.resources``.

Version: ``fhir.resources`` 8 models R5 at its top level and R4B (4.3.0) in
``fhir.resources.R4B``; R4B is R4's technical correction and its DiagnosticReport,
Observation, Provenance, Patient and Bundle are wire-compatible with R4 for everything built
here, so the R4B models validate what we send to an R4 EHR.

Choices (documented in the README):
- ``code``: LOINC 36643-5 "XR Chest 2 Views" when the study holds two or more view positions,
  else 36554-4 "XR Chest Single View" (24627-2 is a CT report, not ours).
- ``status``: final (signed), appended (an addendum), corrected (a correction); drafts are not
  exported at all (the API answers 409), so nothing preliminary reaches the EHR.
- ``conclusionCode``: SNOMED CT for the findings the radiologist confirmed, from
  :data:`SNOMED`; labels without an unambiguous SNOMED concept carry text only.
- One ``Observation`` per finding: human-confirmed (accepted/edited/added) are ``final``,
  AI-proposed and never reviewed are ``preliminary``; rejected findings are not exported. The AI
  probability is a component. Each has a ``Provenance``: the model as author (a Device) and,
  when confirmed, the radiologist as verifier.
"""

from __future__ import annotations

import base64
import datetime as dt
import uuid
from typing import Any, Final

from fhir.resources.R4B.bundle import Bundle
from fhir.resources.R4B.diagnosticreport import DiagnosticReport
from fhir.resources.R4B.observation import Observation
from fhir.resources.R4B.provenance import Provenance

from inference.labels import Label
from reports.models import (
    HUMAN_DECISIONS,
    Decision,
    FindingDecision,
    Report,
    ReportVersion,
    VersionKind,
)
from workstation.studies.models import Instance

SNOMED_SYSTEM = "http://snomed.info/sct"
LOINC_SYSTEM = "http://loinc.org"
ID_SYSTEM = "urn:radiology-workstation"
DICOM_UID_SYSTEM = "urn:dicom:uid"

#: SNOMED CT concept for each CheXpert label, where one fits without stretching its meaning.
#: Enlarged Cardiomediastinum, Lung Opacity, Pleural Other and Support Devices have no single
#: concept that says what CheXpert means by them: they are exported as text only.
SNOMED: Final[dict[Label, tuple[str, str]]] = {
    Label.NO_FINDING: ("281900007", "No abnormality detected"),
    Label.CARDIOMEGALY: ("8186001", "Cardiomegaly"),
    Label.LUNG_LESION: ("27925004", "Nodule"),
    Label.EDEMA: ("19242006", "Pulmonary edema"),
    Label.CONSOLIDATION: ("95436008", "Lung consolidation"),
    Label.PNEUMONIA: ("233604007", "Pneumonia"),
    Label.ATELECTASIS: ("46621007", "Atelectasis"),
    Label.PNEUMOTHORAX: ("36118008", "Pneumothorax"),
    Label.PLEURAL_EFFUSION: ("60046008", "Pleural effusion"),
    Label.FRACTURE: ("125605004", "Fracture of bone"),
}

CHEST_TWO_VIEWS = ("36643-5", "XR Chest 2 Views")
CHEST_SINGLE_VIEW = ("36554-4", "XR Chest Single View")


def finding_concept(label: Label) -> dict[str, Any]:
    coding = SNOMED.get(label)
    concept: dict[str, Any] = {"text": label.value}
    if coding is not None:
        concept["coding"] = [{"system": SNOMED_SYSTEM, "code": coding[0], "display": coding[1]}]
    return concept


def _urn(report: Report, kind: str) -> str:
    # Stable within and across exports of the same report, so a re-sent bundle is idempotent.
    return f"urn:uuid:{uuid.uuid5(uuid.NAMESPACE_URL, f'{ID_SYSTEM}:report:{report.pk}:{kind}')}"


def _status(addenda: list[ReportVersion]) -> str:
    if any(v.kind == VersionKind.CORRECTION for v in addenda):
        return "corrected"
    return "appended" if addenda else "final"


def _procedure_code(report: Report) -> tuple[str, str]:
    views = set(
        Instance.objects.filter(series__study_id=report.study_id)
        .exclude(view_position="")
        .values_list("view_position", flat=True)
    )
    return CHEST_TWO_VIEWS if len(views) >= 2 else CHEST_SINGLE_VIEW


def _person(user: Any) -> dict[str, Any]:
    name = user.get_full_name() if hasattr(user, "get_full_name") else ""
    return {
        "identifier": {"system": f"{ID_SYSTEM}:user", "value": user.get_username()},
        "display": name or user.get_username(),
    }


def presented_text(signed: ReportVersion, addenda: list[ReportVersion]) -> str:
    """The signed report as plain text, addenda after it, each headed with author and time."""
    parts = []
    for title, text in (
        ("FINDINGS", signed.findings),
        ("IMPRESSION", signed.impression),
        ("RECOMMENDATIONS", signed.recommendations),
    ):
        if text.strip():
            parts.append(f"{title}:\n{text.strip()}")
    for version in addenda:
        heading = "CORRECTION" if version.kind == VersionKind.CORRECTION else "ADDENDUM"
        author = version.author.get_username() if version.author else ""
        stamp = version.created_at.astimezone(dt.UTC).isoformat(timespec="seconds")
        parts.append(f"{heading} ({author}, {stamp}):\n{version.addendum.strip()}")
    return "\n\n".join(parts) + "\n"


def _effective(report: Report) -> str:
    study = report.study
    if study.study_date is not None:
        return study.study_date.isoformat()
    return study.received_at.astimezone(dt.UTC).isoformat()


def diagnostic_report(
    *,
    report: Report,
    signed: ReportVersion,
    addenda: list[ReportVersion],
    observation_refs: list[str] | None = None,
    patient_ref: str | None = None,
) -> dict[str, Any]:
    """The DiagnosticReport as validated JSON (a dict). Raises ``pydantic.ValidationError``."""
    assert report.signed_by is not None and report.signed_at is not None
    study, patient = report.study, report.study.patient
    code = _procedure_code(report)
    confirmed = [
        Label(d.label)
        for d in signed.decisions.all()
        if d.decision in HUMAN_DECISIONS and d.label in SNOMED
    ]
    text = presented_text(signed, addenda)
    subject: dict[str, Any] = {
        "type": "Patient",
        "identifier": {
            "system": f"{ID_SYSTEM}:patient:{patient.issuer or 'local'}",
            "value": patient.patient_id,
        },
    }
    if patient_ref:
        subject["reference"] = patient_ref
    resource: dict[str, Any] = {
        "resourceType": "DiagnosticReport",
        "id": f"report-{report.pk}",
        "identifier": [{"system": f"{ID_SYSTEM}:report", "value": str(report.pk)}],
        "status": _status(addenda),
        "category": [
            {
                "coding": [
                    {
                        "system": "http://terminology.hl7.org/CodeSystem/v2-0074",
                        "code": "RAD",
                        "display": "Radiology",
                    }
                ]
            }
        ],
        "code": {"coding": [{"system": LOINC_SYSTEM, "code": code[0], "display": code[1]}]},
        "subject": subject,
        "effectiveDateTime": _effective(report),
        "issued": (addenda[-1].created_at if addenda else report.signed_at).isoformat(),
        "performer": [{"type": "Practitioner", **_person(report.signed_by)}],
        "resultsInterpreter": [{"type": "Practitioner", **_person(report.signed_by)}],
        "imagingStudy": [
            {
                "type": "ImagingStudy",
                "identifier": {"system": DICOM_UID_SYSTEM, "value": f"urn:oid:{study.study_uid}"},
            }
        ],
        "conclusion": signed.impression.strip() or signed.findings.strip(),
        "presentedForm": [
            {
                "contentType": "text/plain; charset=utf-8",
                "language": "en",
                "data": base64.b64encode(text.encode()).decode(),
                "title": f"Chest radiograph report {study.accession_number}".strip(),
                "creation": report.signed_at.isoformat(),
            }
        ],
    }
    if confirmed:
        resource["conclusionCode"] = [finding_concept(label) for label in confirmed]
    if observation_refs:
        resource["result"] = [{"reference": ref} for ref in observation_refs]
    return DiagnosticReport.model_validate(resource).model_dump(mode="json", exclude_none=True)


def _exported(decision: FindingDecision) -> bool:
    return decision.decision != Decision.REJECTED


def observation(
    *, report: Report, signed: ReportVersion, decision: FindingDecision, patient_ref: str
) -> dict[str, Any]:
    confirmed = decision.decision in HUMAN_DECISIONS
    resource: dict[str, Any] = {
        "resourceType": "Observation",
        "status": "final" if confirmed else "preliminary",
        "category": [
            {
                "coding": [
                    {
                        "system": "http://terminology.hl7.org/CodeSystem/observation-category",
                        "code": "imaging",
                    }
                ]
            }
        ],
        "code": finding_concept(Label(decision.label)),
        "subject": {"reference": patient_ref},
        "effectiveDateTime": _effective(report),
        "issued": signed.created_at.isoformat(),
        "valueBoolean": True,
    }
    if decision.text:
        resource["note"] = [{"text": decision.text}]
    if decision.confidence is not None:
        resource["component"] = [
            {
                "code": {"text": "AI model probability"},
                "valueQuantity": {
                    "value": round(decision.confidence, 4),
                    "unit": "probability",
                    "system": "http://unitsofmeasure.org",
                    "code": "1",
                },
            }
        ]
    if not confirmed:
        resource["meta"] = {
            "tag": [{"code": "ai-generated", "display": "AI generated, not verified"}]
        }
    return Observation.model_validate(resource).model_dump(mode="json", exclude_none=True)


def provenance(
    *,
    report: Report,
    signed: ReportVersion,
    decision: FindingDecision,
    target: str,
    model_version: str,
) -> dict[str, Any]:
    """AI-proposed (the model as author) and, when confirmed, the radiologist as verifier."""
    participant = "http://terminology.hl7.org/CodeSystem/provenance-participant-type"
    agents: list[dict[str, Any]] = []
    ai_proposed = decision.decision != Decision.ADDED
    if ai_proposed:
        agents.append(
            {
                "type": {"coding": [{"system": participant, "code": "author"}]},
                "who": {"type": "Device", "display": f"AI model {model_version}"},
            }
        )
    if decision.decision in HUMAN_DECISIONS:
        assert report.signed_by is not None
        agents.append(
            {
                "type": {
                    "coding": [
                        {
                            "system": participant,
                            "code": "author" if not ai_proposed else "verifier",
                        }
                    ]
                },
                "who": {"type": "Practitioner", **_person(report.signed_by)},
            }
        )
    resource = {
        "resourceType": "Provenance",
        "target": [{"reference": target}],
        "recorded": signed.created_at.isoformat(),
        "activity": {
            "text": "human-confirmed"
            if decision.decision in HUMAN_DECISIONS
            else "AI-proposed, not reviewed"
        },
        "agent": agents,
    }
    return Provenance.model_validate(resource).model_dump(mode="json", exclude_none=True)


def report_bundle(
    *, report: Report, signed: ReportVersion, addenda: list[ReportVersion], model_version: str
) -> dict[str, Any]:
    """A ``collection`` Bundle: Patient, DiagnosticReport, Observations and Provenances."""
    patient = report.study.patient
    patient_ref = _urn(report, "patient")
    entries: list[dict[str, Any]] = [
        {
            "fullUrl": patient_ref,
            "resource": {
                "resourceType": "Patient",
                "identifier": [
                    {
                        "system": f"{ID_SYSTEM}:patient:{patient.issuer or 'local'}",
                        "value": patient.patient_id,
                    }
                ],
            },
        }
    ]
    observation_refs = []
    tail = []
    for decision in signed.decisions.all():
        if not _exported(decision):
            continue
        ref = _urn(report, f"observation:{decision.label}")
        observation_refs.append(ref)
        tail.append(
            {
                "fullUrl": ref,
                "resource": observation(
                    report=report, signed=signed, decision=decision, patient_ref=patient_ref
                ),
            }
        )
        tail.append(
            {
                "fullUrl": _urn(report, f"provenance:{decision.label}"),
                "resource": provenance(
                    report=report,
                    signed=signed,
                    decision=decision,
                    target=ref,
                    model_version=model_version,
                ),
            }
        )
    entries.append(
        {
            "fullUrl": _urn(report, "diagnosticreport"),
            "resource": diagnostic_report(
                report=report,
                signed=signed,
                addenda=addenda,
                observation_refs=observation_refs,
                patient_ref=patient_ref,
            ),
        }
    )
    bundle = {
        "resourceType": "Bundle",
        "type": "collection",
        "timestamp": dt.datetime.now(dt.UTC).isoformat(),
        "entry": entries + tail,
    }
    return Bundle.model_validate(bundle).model_dump(mode="json", exclude_none=True)
