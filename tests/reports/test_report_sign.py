"""reports.services.report_sign, addenda, draft rejection, and the database's guard."""

from __future__ import annotations

import pytest
from django.db import DatabaseError, connection, transaction
from rest_framework.test import APIClient

from inference.labels import Label
from reports import services
from reports.errors import IntegrityFailure, NotAllowed, ReportStateError
from reports.models import Report, ReportMetrics, ReportStatus, ReportVersion, VersionKind
from tests.conftest import PASSWORD
from tests.reports.factories import draft_make, report_of
from workstation.audit.models import AuditAction, AuditEvent, AuditOutcome
from workstation.studies.models import StudyStatus

pytestmark = pytest.mark.django_db


def _client(user: object) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


def _signed(reader: object) -> Report:
    report = report_of(draft_make())
    services.report_sign(report=report, user=reader, password=PASSWORD, based_on_version=0)  # type: ignore[arg-type]
    return Report.objects.select_related("study").get(pk=report.pk)


def test_it_signs_the_newest_text_and_records_signer_time_and_study_status(reader: object) -> None:
    report = report_of(draft_make())

    response = _client(reader).post(
        f"/api/v1/reports/{report.pk}/sign",
        {"password": PASSWORD, "based_on_version": 0},
        format="json",
    )

    assert response.status_code == 200, response.content
    body = response.json()
    assert body["status"] == "signed" and body["signed_by"] == "reader"
    assert body["signed_version"] == 1 and body["current"]["kind"] == "signed"
    report.refresh_from_db()
    assert report.signed_at is not None and report.study.status == StudyStatus.SIGNED
    signed = ReportVersion.objects.get(report=report, number=1)
    assert signed.findings == ReportVersion.objects.get(report=report, number=0).findings
    assert AuditEvent.objects.filter(action=AuditAction.SIGN, report_id=report.pk).count() == 1


def test_it_refuses_signing_without_the_radiologist_role(clinician: object) -> None:
    report = report_of(draft_make())

    with pytest.raises(NotAllowed):
        services.report_sign(
            report=report,
            user=clinician,
            password=PASSWORD,
            based_on_version=0,  # type: ignore[arg-type]
        )
    response = _client(clinician).post(
        f"/api/v1/reports/{report.pk}/sign",
        {"password": PASSWORD, "based_on_version": 0},
        format="json",
    )

    assert response.status_code in (403, 404)
    assert Report.objects.get(pk=report.pk).signed_at is None


def test_it_refuses_a_wrong_password_with_a_message_and_an_audit_row(reader: object) -> None:
    report = report_of(draft_make())

    response = _client(reader).post(
        f"/api/v1/reports/{report.pk}/sign",
        {"password": "not-my-password", "based_on_version": 0},
        format="json",
    )

    assert response.status_code == 403
    assert "password" in response.json()["detail"]
    assert Report.objects.get(pk=report.pk).signed_at is None
    rows = AuditEvent.objects.filter(report_id=report.pk, outcome=AuditOutcome.DENIED)
    assert [(r.action, r.username, r.detail) for r in rows] == [
        (AuditAction.SIGN, "reader", "re-authentication failed")
    ]


def test_it_refuses_edits_and_a_second_signature_after_signing(reader: object) -> None:
    report = _signed(reader)

    edit = _client(reader).post(
        f"/api/v1/reports/{report.pk}/versions",
        {"based_on_version": 1, "findings": "changed", "impression": "changed"},
        format="json",
    )
    with pytest.raises(ReportStateError):
        services.report_sign(report=report, user=reader, password=PASSWORD, based_on_version=1)  # type: ignore[arg-type]

    assert edit.status_code == 409 and "addendum" in edit.json()["detail"]
    assert ReportVersion.objects.filter(report=report).count() == 2


def test_a_raw_update_or_delete_of_the_signed_version_fails_in_the_database(reader: object) -> None:
    report = _signed(reader)
    signed = ReportVersion.objects.get(report=report, kind=VersionKind.SIGNED)

    for sql in (
        "UPDATE reports_reportversion SET findings = 'forged' WHERE id = %s",
        "DELETE FROM reports_reportversion WHERE id = %s",
    ):
        with pytest.raises(DatabaseError), transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(sql, [signed.pk])
    for sql in (
        "UPDATE reports_report SET signed_at = now() WHERE id = %s",
        "UPDATE reports_report SET signed_by_id = NULL, signed_at = NULL, "
        "signed_number = NULL, status = 'draft' WHERE id = %s",
        "DELETE FROM reports_report WHERE id = %s",
    ):
        with pytest.raises(DatabaseError), transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(sql, [report.pk])

    assert ReportVersion.objects.get(pk=signed.pk).findings == signed.findings


def test_the_admin_cannot_change_a_signed_version(reader: object, administrator: object) -> None:
    report = _signed(reader)
    signed = ReportVersion.objects.get(report=report, kind=VersionKind.SIGNED)
    client = APIClient()
    client.force_login(administrator)  # type: ignore[arg-type]

    page = client.get(f"/admin/reports/reportversion/{signed.pk}/change/")
    post = client.post(f"/admin/reports/reportversion/{signed.pk}/change/", {"findings": "x"})
    delete = client.post(f"/admin/reports/reportversion/{signed.pk}/delete/", {"post": "yes"})

    assert page.status_code == 200 and b"Save" not in page.content  # a read-only view
    assert post.status_code == 403 and delete.status_code == 403
    assert ReportVersion.objects.get(pk=signed.pk).findings == signed.findings


def test_it_stores_the_content_hash_and_refuses_export_when_it_no_longer_matches(
    reader: object,
) -> None:
    report = _signed(reader)
    assert [v.number for v in services.report_integrity_verify(report=report)] == [1]

    # Tamper as only a superuser could: replica mode skips ordinary triggers.
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL session_replication_role = replica")
        cursor.execute(
            "UPDATE reports_reportversion SET impression = 'No effusion.' "
            "WHERE report_id = %s AND number = 1",
            [report.pk],
        )
        cursor.execute("SET LOCAL session_replication_role = origin")

    with pytest.raises(IntegrityFailure):
        services.report_integrity_verify(report=report)
    assert AuditEvent.objects.filter(
        action=AuditAction.EXPORT, outcome=AuditOutcome.FAILURE, report_id=report.pk
    ).exists()


def test_it_adds_addenda_and_corrections_after_signing_only(
    reader: object, attending: object
) -> None:
    draft = report_of(draft_make())
    with pytest.raises(ReportStateError):
        services.report_addendum_add(report=draft, author=reader, text="too early")  # type: ignore[arg-type]
    report = _signed(reader)

    response = _client(attending).post(
        f"/api/v1/reports/{report.pk}/addenda",
        {"text": "Comparison with prior: unchanged.", "is_correction": True},
        format="json",
    )

    assert response.status_code == 201
    body = response.json()
    assert body["status"] == ReportStatus.AMENDED
    assert [(a["kind"], a["author"]) for a in body["addenda"]] == [("correction", "attending")]
    assert body["current"]["kind"] == "signed"  # the signed text is still what it was
    assert [v.number for v in services.report_integrity_verify(report=report)] == [1, 2]


def test_it_records_that_the_radiologist_rejected_the_ai_draft(reader: object) -> None:
    report = report_of(draft_make())

    response = _client(reader).post(
        f"/api/v1/reports/{report.pk}/reject-draft",
        {"based_on_version": 0, "reason": "wrong patient side"},
        format="json",
    )
    services.report_sign(
        report=report,
        user=reader,  # type: ignore[arg-type]
        password=PASSWORD,
        based_on_version=1,
        sections=services.signing.Sections("Clear lungs.", "Normal chest.", ""),
    )

    assert response.status_code == 201
    rejected = ReportVersion.objects.get(report=report, number=1)
    assert rejected.kind == VersionKind.DRAFT_REJECTED and rejected.text == ""
    assert {d.decision for d in rejected.decisions.all()} == {"rejected"}
    report.refresh_from_db()
    assert report.ai_draft_rejected
    metrics = ReportMetrics.objects.get(report=report)
    assert metrics.rejected == 2 and metrics.char_distance > 0.5
    assert Label.PLEURAL_EFFUSION in metrics.findings_removed


def test_it_refuses_to_sign_an_empty_report(reader: object) -> None:
    report = report_of(draft_make(findings=""))

    response = _client(reader).post(
        f"/api/v1/reports/{report.pk}/sign",
        {"password": PASSWORD, "based_on_version": 0, "findings": "", "impression": " "},
        format="json",
    )

    assert response.status_code == 400
    assert Report.objects.get(pk=report.pk).signed_at is None
