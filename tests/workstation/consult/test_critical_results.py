"""Critical results: raised when a report with a critical finding is signed, acknowledged by
the referring clinician (who and when, audited), listed with their age for managers."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.test import Client
from rest_framework.test import APIClient

from reports.errors import NotAllowed
from reports.models import Decision
from tests.conftest import PASSWORD
from tests.workstation.consult.factories import CARDIOMEGALY_FINDING, drafted_study, grant, sign
from workstation.accounts.roles import Role
from workstation.accounts.services import user_create_with_role
from workstation.audit.models import AuditAction, AuditEvent
from workstation.consult.models import CriticalResult

pytestmark = pytest.mark.django_db


def _api(user: Any) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


def _second_clinician() -> Any:
    user_create_with_role(username="covering", role=Role.CLINICIAN, password=PASSWORD)
    return get_user_model().objects.get(username="covering")


def test_signing_a_critical_report_notifies_each_clinician_with_access(
    reader: Any, clinician: Any
) -> None:
    covering = _second_clinician()
    study = drafted_study()
    grant(study, clinician)
    grant(study, covering)

    report = sign(study, reader)

    rows = CriticalResult.objects.filter(report=report).order_by("recipient__username")
    assert [r.recipient.username for r in rows] == ["clinician", "covering"]
    assert all(r.labels == ["Pleural Effusion"] for r in rows)
    assert all(r.signed_version == report.signed_number and not r.is_acknowledged for r in rows)


def test_a_critical_label_found_only_by_the_labeller_in_the_signed_text_notifies(
    reader: Any, clinician: Any
) -> None:
    study = drafted_study(findings=[CARDIOMEGALY_FINDING], text="Large left pneumothorax.")
    grant(study, clinician)

    sign(study, reader)

    assert CriticalResult.objects.get().labels == ["Pneumothorax"]


def test_no_notification_when_nothing_critical_is_signed(reader: Any, clinician: Any) -> None:
    study = drafted_study(text="No pleural effusion. No pneumothorax.")
    grant(study, clinician)

    # The AI's critical effusion is rejected and the signed text denies it.
    sign(study, reader, decisions={"Pleural Effusion": Decision.REJECTED})

    assert not CriticalResult.objects.exists()


def test_without_any_clinician_the_result_is_kept_unaddressed_for_the_department(
    reader: Any,
) -> None:
    report = sign(drafted_study(), reader)
    row = CriticalResult.objects.get(report=report)
    assert row.recipient is None


def test_a_refused_signature_raises_no_notification(reader: Any, clinician: Any) -> None:
    from reports import services
    from reports.models import Report

    study = drafted_study()
    grant(study, clinician)
    report = Report.objects.get(study=study)
    with pytest.raises(NotAllowed):
        services.report_sign(report=report, user=reader, password="wrong", based_on_version=0)
    assert not CriticalResult.objects.exists()


def test_an_addendum_does_not_duplicate_notifications(reader: Any, clinician: Any) -> None:
    from reports import services

    study = drafted_study()
    grant(study, clinician)
    report = sign(study, reader)
    services.report_addendum_add(report=report, author=reader, text="Discussed with Dr X.")
    assert CriticalResult.objects.count() == 1


def test_the_recipient_acknowledges_once_and_it_is_audited(reader: Any, clinician: Any) -> None:
    study = drafted_study()
    grant(study, clinician)
    sign(study, reader)
    row = CriticalResult.objects.get()

    response = _api(clinician).post(f"/api/v1/critical-results/{row.pk}/acknowledge")

    assert response.status_code == 200, response.content
    body = response.json()
    assert body["acknowledged_by"] == "clinician" and body["acknowledged_at"]
    row.refresh_from_db()
    assert row.acknowledged_by == clinician and row.acknowledged_at is not None
    audit = AuditEvent.objects.get(object_type="critical_result", object_id=str(row.pk))
    assert audit.action == AuditAction.EDIT and audit.username == "clinician"
    assert audit.study_uid == study.study_uid and "Pleural Effusion" in audit.detail

    again = _api(clinician).post(f"/api/v1/critical-results/{row.pk}/acknowledge")
    assert again.status_code == 409
    assert "already acknowledged by clinician" in again.json()["detail"]


@pytest.mark.parametrize(
    ("actor", "status"), [("reader", 404), ("manager", 403), ("outsider", 403)]
)
def test_only_the_recipient_acknowledges_an_addressed_result(
    request: pytest.FixtureRequest, reader: Any, clinician: Any, actor: str, status: int
) -> None:
    study = drafted_study()
    grant(study, clinician)
    sign(study, reader)
    row = CriticalResult.objects.get()
    user = request.getfixturevalue(actor)
    assert _api(user).post(f"/api/v1/critical-results/{row.pk}/acknowledge").status_code == status
    assert not CriticalResult.objects.get().is_acknowledged


def test_another_clinician_cannot_acknowledge_it(reader: Any, clinician: Any) -> None:
    covering = _second_clinician()
    study = drafted_study()
    grant(study, clinician)
    sign(study, reader)
    row = CriticalResult.objects.get()

    assert _api(covering).post(f"/api/v1/critical-results/{row.pk}/acknowledge").status_code == 404
    assert AuditEvent.objects.filter(action=AuditAction.DENIED, username="covering").exists()


def test_managers_list_unacknowledged_results_with_their_age(
    reader: Any, clinician: Any, manager: Any
) -> None:
    first = drafted_study()
    grant(first, clinician)
    sign(first, reader)
    sign(drafted_study(), reader)  # nobody to notify
    done = CriticalResult.objects.get(study=first)
    _api(clinician).post(f"/api/v1/critical-results/{done.pk}/acknowledge")
    sign_again = drafted_study()
    grant(sign_again, clinician)
    sign(sign_again, reader)

    results = _api(manager).get("/api/v1/critical-results").json()["results"]

    assert [r["recipient"] for r in results] == [None, "clinician"]
    assert all(r["age_seconds"] >= 0 and r["acknowledged_at"] is None for r in results)
    mine = _api(clinician).get("/api/v1/critical-results").json()["results"]
    assert [r["study_uid"] for r in mine] == [sign_again.study_uid]
    page = Client()
    page.force_login(manager)
    html = page.get("/critical-results/").content.decode()
    assert sign_again.study_uid in html and "nobody" in html


def test_the_clinician_sees_unacknowledged_results_first_and_acknowledges_from_the_page(
    reader: Any, clinician: Any
) -> None:
    study = drafted_study()
    grant(study, clinician)
    sign(study, reader)
    row = CriticalResult.objects.get()
    page = Client()
    page.force_login(clinician)

    html = page.get("/clinician/").content.decode()
    assert 'data-testid="critical-alerts"' in html and "Pleural Effusion" in html

    response = page.post(
        f"/clinician/critical-results/{row.pk}/acknowledge", {"next": "/clinician/"}
    )
    assert response.status_code == 302 and response["Location"] == "/clinician/"
    row.refresh_from_db()
    assert row.acknowledged_by == clinician
    assert 'data-testid="critical-alerts"' not in page.get("/clinician/").content.decode()


def test_the_database_keeps_questions_and_acknowledgements_as_written(
    reader: Any, clinician: Any
) -> None:
    from django.db import DatabaseError, transaction

    from workstation.consult.models import Question

    study = drafted_study()
    grant(study, clinician)
    sign(study, reader)
    _api(reader).post(
        f"/api/v1/studies/{study.study_uid}/questions", {"question": "Is this normal?"}
    )
    row = CriticalResult.objects.get()
    _api(clinician).post(f"/api/v1/critical-results/{row.pk}/acknowledge")

    for change in (
        lambda: Question.objects.update(answer="something else"),
        lambda: Question.objects.all().delete(),
        lambda: CriticalResult.objects.update(acknowledged_at=None, acknowledged_by=None),
        lambda: CriticalResult.objects.update(labels=["Fracture"]),
        lambda: CriticalResult.objects.all().delete(),
    ):
        with pytest.raises(DatabaseError), transaction.atomic():
            change()
    assert CriticalResult.objects.get().acknowledged_by == clinician


def test_a_clinician_granted_access_after_signing_is_notified_too(
    reader: Any, clinician: Any
) -> None:
    study = drafted_study()
    report = sign(study, reader)
    grant(study, clinician)

    recipients = {r.recipient_id for r in CriticalResult.objects.filter(report=report)}
    assert recipients == {None, clinician.pk}


def test_a_radiologist_marks_an_unaddressed_result_as_handled(reader: Any, manager: Any) -> None:
    sign(drafted_study(), reader)  # no clinician had access
    row = CriticalResult.objects.get()
    assert _api(manager).post(f"/api/v1/critical-results/{row.pk}/acknowledge").status_code == 403

    page = Client()
    page.force_login(reader)
    assert "Referrer informed" in page.get("/critical-results/").content.decode()
    response = page.post(f"/clinician/critical-results/{row.pk}/acknowledge")

    assert response.status_code == 302 and response["Location"] == "/critical-results/"
    row.refresh_from_db()
    assert row.acknowledged_by == reader
    assert AuditEvent.objects.filter(object_type="critical_result", username="reader").exists()
