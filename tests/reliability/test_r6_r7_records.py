"""R6/R7: a signed report cannot change through the ORM, the admin, the API or SQL, and the
audit trail cannot be changed by the application's own database role (not even by disabling
its triggers). Complements tests/reports/test_report_sign.py and tests/workstation/audit."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from django.db import DatabaseError, connection, transaction
from rest_framework.test import APIClient

from reports import services
from reports.models import Report, ReportVersion, VersionKind
from tests.conftest import PASSWORD
from tests.reports.factories import draft_make, report_of
from workstation.audit.models import AuditAction, AuditEvent
from workstation.audit.services import audit_record

pytestmark = [pytest.mark.slow, pytest.mark.django_db]


def _signed(reader: Any) -> tuple[Report, ReportVersion]:
    report = report_of(draft_make())
    services.report_sign(report=report, user=reader, password=PASSWORD, based_on_version=0)
    report = Report.objects.get(pk=report.pk)
    return report, ReportVersion.objects.get(report=report, kind=VersionKind.SIGNED)


def _refused(attempt: Callable[[], object]) -> bool:
    """True when the attempt raised a database error (the triggers refused it)."""
    try:
        with transaction.atomic():
            attempt()
    except DatabaseError:
        return True
    return False


def test_no_channel_changes_a_signed_report(reader: Any, administrator: Any) -> None:
    report, signed = _signed(reader)
    forged = "Forged findings."

    def orm_save() -> None:
        version = ReportVersion.objects.get(pk=signed.pk)
        version.findings = forged
        version.save()

    def sql(statement: str, pk: int) -> Callable[[], None]:
        def run() -> None:
            with connection.cursor() as cursor:
                cursor.execute(statement, [pk])

        return run

    database_attempts = {
        "orm save": orm_save,
        "orm queryset update": lambda: ReportVersion.objects.filter(pk=signed.pk).update(
            findings=forged
        ),
        "orm delete": lambda: ReportVersion.objects.filter(pk=signed.pk).delete(),
        "orm unsign": lambda: Report.objects.filter(pk=report.pk).update(
            signed_at=None, signed_by=None, signed_number=None
        ),
        "sql update": sql(
            "UPDATE reports_reportversion SET findings = 'x' WHERE id = %s", signed.pk
        ),
        "sql delete": sql("DELETE FROM reports_reportversion WHERE id = %s", signed.pk),
        "sql re-sign": sql("UPDATE reports_report SET signed_at = now() WHERE id = %s", report.pk),
    }
    refused = {name: _refused(attempt) for name, attempt in database_attempts.items()}
    admin = APIClient()
    admin.force_login(administrator)
    admin_post = admin.post(
        f"/admin/reports/reportversion/{signed.pk}/change/", {"findings": forged}
    ).status_code
    api = APIClient()
    api.force_authenticate(reader)
    api_post = api.post(
        f"/api/v1/reports/{report.pk}/versions",
        {"based_on_version": signed.number, "findings": forged, "impression": "x"},
        format="json",
    ).status_code
    api_sign = api.post(
        f"/api/v1/reports/{report.pk}/sign",
        {"password": PASSWORD, "based_on_version": signed.number, "findings": forged},
        format="json",
    ).status_code

    assert refused == dict.fromkeys(database_attempts, True)
    assert admin_post == 403 and api_post == 409 and api_sign == 409
    after = ReportVersion.objects.get(pk=signed.pk)
    assert (after.findings, after.content_sha256) == (signed.findings, signed.content_sha256)
    assert not ReportVersion.objects.filter(report=report, findings=forged).exists()


@pytest.fixture
def app_role() -> Iterator[str]:
    """A database role like production's web role: it reads and writes the tables but does
    not own them (README: run production as a role that cannot disable the triggers)."""
    name = f"radws_app_{os.getpid()}"
    with connection.cursor() as cursor:
        cursor.execute(f"CREATE ROLE {name} NOLOGIN")
        cursor.execute(
            f"GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO {name}"
        )
        cursor.execute(f"GRANT USAGE ON ALL SEQUENCES IN SCHEMA public TO {name}")
    yield name
    with connection.cursor() as cursor:
        cursor.execute("RESET ROLE")
        cursor.execute(f"REVOKE ALL ON ALL TABLES IN SCHEMA public FROM {name}")
        cursor.execute(f"REVOKE ALL ON ALL SEQUENCES IN SCHEMA public FROM {name}")
        cursor.execute(f"DROP ROLE {name}")


def test_the_application_role_cannot_change_or_remove_audit_rows(
    reader: Any, app_role: str
) -> None:
    event = audit_record(action=AuditAction.VIEW, user=reader)
    statements = (
        "UPDATE audit_auditevent SET username = 'someone' WHERE id = %(id)s",
        "DELETE FROM audit_auditevent WHERE id = %(id)s",
        "TRUNCATE audit_auditevent",
        "ALTER TABLE audit_auditevent DISABLE TRIGGER ALL",
        "DROP TABLE audit_auditevent",
    )

    def as_app(statement: str) -> Callable[[], None]:
        def run() -> None:
            with connection.cursor() as cursor:
                cursor.execute(f"SET LOCAL ROLE {app_role}")
                cursor.execute(statement, {"id": event.pk})
                # Reached only on success; a refused statement's savepoint rollback undoes
                # the SET LOCAL itself.
                cursor.execute("RESET ROLE")

        return run

    refused = {statement: _refused(as_app(statement)) for statement in statements}
    columns = (
        "user_id, username, at, action, outcome, object_type, object_id, study_uid, report_id,"
        " source_ip, path, detail"
    )
    copy = f"INSERT INTO audit_auditevent ({columns}) SELECT {columns} FROM audit_auditevent"  # noqa: S608 - constants
    inserted = not _refused(as_app(copy + " WHERE id = %(id)s"))

    assert refused == dict.fromkeys(statements, True)
    assert AuditEvent.objects.get(pk=event.pk).username == "reader"
    assert inserted  # appending is what the role may do
