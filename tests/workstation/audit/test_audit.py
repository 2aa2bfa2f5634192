"""workstation.audit: append-only rows for logins, views, edits, denials; read by admins."""

from __future__ import annotations

import pytest
from django.db import DatabaseError, connection, transaction
from django.test import Client
from rest_framework.test import APIClient

from tests.conftest import PASSWORD
from tests.reports.factories import draft_make, report_of, study_make
from workstation.audit.models import AuditAction, AuditEvent, AuditOutcome
from workstation.audit.services import audit_record

pytestmark = pytest.mark.django_db


def _client(user: object) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


def _actions() -> list[tuple[str, str, str]]:
    return list(AuditEvent.objects.order_by("id").values_list("username", "action", "outcome"))


def test_the_database_refuses_to_update_or_delete_an_audit_row(reader: object) -> None:
    event = audit_record(action=AuditAction.VIEW, user=reader)  # type: ignore[arg-type]

    for sql in (
        "UPDATE audit_auditevent SET username = 'someone' WHERE id = %s",
        "DELETE FROM audit_auditevent WHERE id = %s",
    ):
        with pytest.raises(DatabaseError), transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(sql, [event.pk])
    with pytest.raises(DatabaseError), transaction.atomic():
        AuditEvent.objects.filter(pk=event.pk).delete()

    assert AuditEvent.objects.get(pk=event.pk).username == "reader"


def test_it_records_login_failed_login_and_logout_with_the_source_ip(reader: object) -> None:
    client = Client(REMOTE_ADDR="10.1.2.3")

    client.post("/accounts/login/", {"username": "reader", "password": "wrong"})
    client.post("/accounts/login/", {"username": "reader", "password": PASSWORD})
    client.post("/accounts/logout/")

    assert _actions() == [
        ("reader", "login_failed", "failure"),
        ("reader", "login", "success"),
        ("reader", "logout", "success"),
    ]
    assert set(AuditEvent.objects.values_list("source_ip", flat=True)) == {"10.1.2.3"}


def test_it_records_views_of_phi_the_study_list_and_the_report(reader: object) -> None:
    report = report_of(draft_make())

    _client(reader).get("/api/v1/studies")
    _client(reader).get(f"/api/v1/reports/{report.pk}")

    rows = list(AuditEvent.objects.filter(action=AuditAction.VIEW).order_by("id"))
    assert [(r.object_type, r.username) for r in rows] == [
        ("study_list", "reader"),
        ("report", "reader"),
    ]
    assert report.study.study_uid in rows[0].detail
    assert (rows[1].report_id, rows[1].study_uid) == (report.pk, report.study.study_uid)


def test_it_records_a_403_as_a_denial(manager: object) -> None:
    response = _client(manager).get("/api/v1/studies")

    assert response.status_code == 403
    assert _actions() == [("manager", "denied", "denied")]
    assert AuditEvent.objects.get().path == "/api/v1/studies"


def test_it_records_an_edit_in_the_same_transaction_as_the_version(reader: object) -> None:
    report = report_of(draft_make())

    _client(reader).post(
        f"/api/v1/reports/{report.pk}/versions",
        {"based_on_version": 0, "findings": "a", "impression": "b"},
        format="json",
    )

    edit = AuditEvent.objects.get(action=AuditAction.EDIT)
    assert (edit.report_id, edit.detail, edit.source_ip) == (report.pk, "version 1", "127.0.0.1")


def test_only_admins_read_the_audit_log_with_filters_and_the_read_is_audited(
    reader: object, administrator: object
) -> None:
    study = study_make()
    audit_record(action=AuditAction.VIEW, user=reader, study_uid=study.study_uid)  # type: ignore[arg-type]
    audit_record(action=AuditAction.EDIT, user=reader, study_uid="9.9")  # type: ignore[arg-type]

    denied = _client(reader).get("/api/v1/audit")
    body = (
        _client(administrator)
        .get("/api/v1/audit", {"user": "reader", "action": "view", "study_uid": study.study_uid})
        .json()
    )
    since = _client(administrator).get("/api/v1/audit", {"since": "2999-01-01T00:00:00Z"}).json()

    assert denied.status_code == 403
    assert [(r["username"], r["action"]) for r in body["results"]] == [("reader", "view")]
    assert since["count"] == 0
    reads = AuditEvent.objects.filter(action=AuditAction.AUDIT_READ, username="administrator")
    assert reads.count() == 2
    assert AuditEvent.objects.filter(
        action=AuditAction.DENIED, username="reader", outcome=AuditOutcome.DENIED
    ).exists()


def test_the_admin_page_is_read_only_and_audited(administrator: object) -> None:
    event = audit_record(action=AuditAction.VIEW, user=administrator)  # type: ignore[arg-type]
    client = Client()
    client.force_login(administrator)  # type: ignore[arg-type]

    listing = client.get("/admin/audit/auditevent/")
    add = client.get("/admin/audit/auditevent/add/")
    delete = client.post(f"/admin/audit/auditevent/{event.pk}/delete/", {"post": "yes"})

    assert listing.status_code == 200 and add.status_code == 403 and delete.status_code == 403
    assert AuditEvent.objects.filter(pk=event.pk).exists()
    assert AuditEvent.objects.filter(action=AuditAction.AUDIT_READ, object_type="admin").exists()


def test_a_scripted_session_of_40_actions_writes_40_audit_rows(reader: object) -> None:
    """Login, 12 x (study list, report view, save), sign, addendum, logout: one row each."""
    report = report_of(draft_make(study=study_make()))
    client = Client()
    actions = 0
    before = AuditEvent.objects.count()

    assert (
        client.post("/accounts/login/", {"username": "reader", "password": PASSWORD}).status_code
        == 302
    )
    actions += 1
    version = 0
    for i in range(12):
        assert client.get("/api/v1/studies").status_code == 200
        assert client.get(f"/api/v1/reports/{report.pk}").status_code == 200
        saved = client.post(
            f"/api/v1/reports/{report.pk}/versions",
            {"based_on_version": version, "findings": f"Edit {i}.", "impression": "Normal."},
            content_type="application/json",
        )
        assert saved.status_code == 201, saved.content
        version += 1
        actions += 3
    signed = client.post(
        f"/api/v1/reports/{report.pk}/sign",
        {"password": PASSWORD, "based_on_version": version},
        content_type="application/json",
    )
    assert signed.status_code == 200, signed.content
    added = client.post(
        f"/api/v1/reports/{report.pk}/addenda",
        {"text": "Addendum."},
        content_type="application/json",
    )
    assert added.status_code == 201, added.content
    assert client.post("/accounts/logout/").status_code == 302
    actions += 3

    assert actions == 40
    assert AuditEvent.objects.count() - before == 40
    rows = AuditEvent.objects.order_by("id")[before:]
    assert [r.action for r in rows][:2] == [AuditAction.LOGIN, AuditAction.VIEW]
    assert {r.username for r in rows} == {"reader"}
