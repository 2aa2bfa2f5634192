"""reports.services.report_draft_save / report_version_save and POST /reports/{id}/versions."""

from __future__ import annotations

import pytest
from django.db import DatabaseError, transaction
from rest_framework.test import APIClient

from inference.labels import Label
from reports import services
from reports.content import FindingVerdict
from reports.errors import ReportStateError, StaleVersion
from reports.models import Decision, FindingDecision, ReportVersion, VersionKind
from tests.reports.factories import draft_make, report_of
from workstation.studies.models import Study, StudyStatus

pytestmark = pytest.mark.django_db


def _client(user: object) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


def test_it_stores_the_ai_draft_as_version_zero_with_its_model() -> None:
    version = draft_make()

    assert (version.number, version.kind, version.author) == (0, VersionKind.AI_DRAFT, None)
    assert version.model_version == "demo-1.0"
    assert len(version.content_sha256) == 64
    decisions = {d.label: (d.decision, d.confidence) for d in version.decisions.all()}
    assert decisions == {
        Label.PLEURAL_EFFUSION: (Decision.PROPOSED, 0.91),
        Label.CARDIOMEGALY: (Decision.PROPOSED, 0.55),
    }
    assert Study.objects.get(pk=report_of(version).study_id).status == StudyStatus.DRAFTED


def test_it_refuses_a_second_ai_draft_for_the_same_study() -> None:
    version = draft_make()

    with pytest.raises(ReportStateError):
        draft_make(study=report_of(version).study)


def test_it_appends_a_version_per_save_and_carries_decisions_forward(reader: object) -> None:
    report = report_of(draft_make())

    v1 = services.report_version_save(
        report=report,
        author=reader,  # type: ignore[arg-type]
        based_on_version=0,
        findings="Small right pleural effusion.",
        impression="Effusion.",
        decisions=[FindingVerdict(Label.CARDIOMEGALY, Decision.REJECTED)],
    )
    v2 = services.report_version_save(
        report=report,
        author=reader,  # type: ignore[arg-type]
        based_on_version=1,
        findings="Small right pleural effusion. Rib fracture.",
        impression="Effusion.",
        decisions=[FindingVerdict(Label.FRACTURE, Decision.ADDED, "Rib fracture.")],
    )

    assert (v1.number, v2.number, v2.based_on) == (1, 2, 1)
    assert ReportVersion.objects.filter(report=report).count() == 3
    assert ReportVersion.objects.get(report=report, number=0).findings.startswith("Small right")
    decisions = {d.label: d.decision for d in v2.decisions.all()}
    assert decisions == {
        Label.PLEURAL_EFFUSION: Decision.PROPOSED,  # not reviewed yet: stays unverified
        Label.CARDIOMEGALY: Decision.REJECTED,
        Label.FRACTURE: Decision.ADDED,
    }
    assert report_of(v2).head_number == 2


def test_it_refuses_a_save_based_on_an_older_version(reader: object) -> None:
    report = report_of(draft_make())
    services.report_version_save(
        report=report,
        author=reader,
        based_on_version=0,
        findings="a",
        impression="b",  # type: ignore[arg-type]
    )

    with pytest.raises(StaleVersion) as refused:
        services.report_version_save(
            report=report,
            author=reader,
            based_on_version=0,
            findings="c",
            impression="d",  # type: ignore[arg-type]
        )

    assert refused.value.latest_number == 1 and refused.value.author == "reader"
    assert ReportVersion.objects.filter(report=report).count() == 2


def test_it_answers_409_with_the_newer_versions_author_and_time(
    reader: object, attending: object
) -> None:
    report = report_of(draft_make())
    body = {"based_on_version": 0, "findings": "Effusion.", "impression": "Effusion."}
    assert (
        _client(reader)
        .post(f"/api/v1/reports/{report.pk}/versions", body, format="json")
        .status_code
        == 201
    )
    _client(reader).delete(f"/api/v1/reports/{report.pk}/claim")

    response = _client(attending).post(f"/api/v1/reports/{report.pk}/versions", body, format="json")

    assert response.status_code == 409
    payload = response.json()
    assert payload["latest_version"] == 1 and payload["latest_author"] == "reader"
    assert payload["latest_saved_at"] and "reload" in payload["detail"]


def test_it_rejects_a_decision_on_a_label_the_ai_did_not_propose(reader: object) -> None:
    report = report_of(draft_make())

    response = _client(reader).post(
        f"/api/v1/reports/{report.pk}/versions",
        {
            "based_on_version": 0,
            "findings": "x",
            "impression": "y",
            "decisions": [{"label": "Fracture", "decision": "accepted"}],
        },
        format="json",
    )

    assert response.status_code == 400
    assert "added" in response.json()["detail"]


def test_the_database_refuses_to_update_or_delete_a_version_through_the_orm() -> None:
    version = draft_make()

    with pytest.raises(DatabaseError), transaction.atomic():
        ReportVersion.objects.filter(pk=version.pk).update(findings="rewritten")
    with pytest.raises(DatabaseError), transaction.atomic():
        ReportVersion.objects.filter(pk=version.pk).delete()
    with pytest.raises(DatabaseError), transaction.atomic():
        FindingDecision.objects.filter(version=version).update(decision="accepted")

    assert ReportVersion.objects.get(pk=version.pk).findings == version.findings
