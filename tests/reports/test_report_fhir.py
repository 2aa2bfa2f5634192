"""GET /api/v1/reports/{id}/fhir and /fhir/bundle: FHIR R4 (R4B models) of signed reports."""

from __future__ import annotations

import base64

import pytest
from fhir.resources.R4B.bundle import Bundle
from fhir.resources.R4B.diagnosticreport import DiagnosticReport
from rest_framework.test import APIClient

from inference.labels import Label
from reports import services
from reports.content import FindingVerdict
from reports.models import Decision, Report
from tests.conftest import PASSWORD
from tests.reports.factories import draft_make, report_of
from workstation.audit.models import AuditAction, AuditEvent

pytestmark = pytest.mark.django_db


def _client(user: object) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


def _signed(reader: object) -> Report:
    report = report_of(draft_make())
    services.report_sign(
        report=report,
        user=reader,  # type: ignore[arg-type]
        password=PASSWORD,
        based_on_version=0,
        decisions=[
            FindingVerdict(Label.PLEURAL_EFFUSION, Decision.ACCEPTED),
            FindingVerdict(Label.FRACTURE, Decision.ADDED, "Healed left rib fracture."),
        ],
    )
    return Report.objects.select_related("study", "study__patient").get(pk=report.pk)


def test_it_refuses_to_export_a_draft(reader: object) -> None:
    report = report_of(draft_make())

    response = _client(reader).get(f"/api/v1/reports/{report.pk}/fhir")

    assert response.status_code == 409
    assert "signed" in response.json()["detail"]


def test_it_exports_a_signed_report_as_a_valid_final_diagnostic_report(reader: object) -> None:
    report = _signed(reader)

    response = _client(reader).get(f"/api/v1/reports/{report.pk}/fhir")

    assert response.status_code == 200 and response["Content-Type"] == "application/fhir+json"
    body = response.json()
    DiagnosticReport.model_validate(body)
    assert body["status"] == "final"
    assert body["code"]["coding"][0]["code"] == "36554-4"
    assert body["subject"]["identifier"]["value"] == report.study.patient.patient_id
    assert body["resultsInterpreter"][0]["identifier"]["value"] == "reader"
    assert body["imagingStudy"][0]["identifier"]["value"] == f"urn:oid:{report.study.study_uid}"
    assert body["conclusion"] == "Small right pleural effusion."
    codes = {c["coding"][0]["code"] for c in body["conclusionCode"]}
    assert codes == {"60046008", "125605004"}  # effusion accepted, fracture added; not the
    text = base64.b64decode(body["presentedForm"][0]["data"]).decode()  # unreviewed cardiomegaly
    assert "IMPRESSION:\nSmall right pleural effusion." in text
    assert AuditEvent.objects.filter(action=AuditAction.EXPORT, report_id=report.pk).count() == 1


def test_an_addendum_or_correction_moves_the_status(reader: object) -> None:
    report = _signed(reader)
    services.report_addendum_add(report=report, author=reader, text="Prior reviewed.")  # type: ignore[arg-type]
    appended = _client(reader).get(f"/api/v1/reports/{report.pk}/fhir").json()
    services.report_addendum_add(
        report=report,
        author=reader,  # type: ignore[arg-type]
        text="Left, not right.",
        is_correction=True,
    )
    corrected = _client(reader).get(f"/api/v1/reports/{report.pk}/fhir").json()

    assert (appended["status"], corrected["status"]) == ("appended", "corrected")
    text = base64.b64decode(corrected["presentedForm"][0]["data"]).decode()
    assert "ADDENDUM (reader" in text and "CORRECTION (reader" in text


def test_the_bundle_carries_observations_with_confidence_and_provenance(reader: object) -> None:
    report = _signed(reader)

    body = _client(reader).get(f"/api/v1/reports/{report.pk}/fhir/bundle").json()

    Bundle.model_validate(body)
    resources = [entry["resource"] for entry in body["entry"]]
    kinds = [r["resourceType"] for r in resources]
    assert kinds.count("Observation") == 3 and kinds.count("Provenance") == 3
    observations = {r["code"]["text"]: r for r in resources if r["resourceType"] == "Observation"}
    effusion = observations["Pleural Effusion"]
    assert effusion["status"] == "final"
    assert effusion["component"][0]["valueQuantity"]["value"] == 0.91
    assert observations["Cardiomegaly"]["status"] == "preliminary"  # proposed, never reviewed
    provenance = {
        p["target"][0]["reference"]: p for p in resources if p["resourceType"] == "Provenance"
    }
    refs = {e["resource"].get("code", {}).get("text"): e["fullUrl"] for e in body["entry"]}
    agents = {
        label: [a["type"]["coding"][0]["code"] for a in provenance[refs[label]]["agent"]]
        for label in ("Pleural Effusion", "Cardiomegaly", "Fracture")
    }
    assert agents == {
        "Pleural Effusion": ["author", "verifier"],  # AI-proposed, human-confirmed
        "Cardiomegaly": ["author"],  # AI-proposed only
        "Fracture": ["author"],  # the radiologist's own finding
    }
    report_entry = next(r for r in resources if r["resourceType"] == "DiagnosticReport")
    assert len(report_entry["result"]) == 3


def test_it_refuses_export_when_the_signed_text_was_tampered_with(reader: object) -> None:
    from django.db import connection

    report = _signed(reader)
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL session_replication_role = replica")
        cursor.execute(
            "UPDATE reports_reportversion SET findings = 'Normal.' WHERE report_id = %s "
            "AND kind = 'signed'",
            [report.pk],
        )
        cursor.execute("SET LOCAL session_replication_role = origin")

    response = _client(reader).get(f"/api/v1/reports/{report.pk}/fhir")

    assert response.status_code == 409
    assert "does not match its signature hash" in response.json()["detail"]
