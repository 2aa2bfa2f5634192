"""/api/v1/studies/{uid}/questions: who may ask, what is stored and audited, bad input."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from rest_framework.test import APIClient

from reports.models import Decision
from tests.workstation.consult.factories import drafted_study, grant, sign
from workstation.audit.models import AuditAction, AuditEvent, AuditOutcome
from workstation.consult.models import Question

pytestmark = pytest.mark.django_db


def _client(user: Any) -> APIClient:
    client = APIClient()
    if user is not None:
        client.force_authenticate(user)
    return client


def _ask(user: Any, study_uid: str, question: Any = "Is there a pleural effusion?") -> Any:
    return _client(user).post(
        f"/api/v1/studies/{study_uid}/questions", {"question": question}, format="json"
    )


def test_it_answers_a_clinicians_question_about_a_signed_study_with_evidence(
    reader: Any, clinician: Any
) -> None:
    study = drafted_study()
    sign(study, reader, decisions={"Pleural Effusion": Decision.ACCEPTED})
    grant(study, clinician)

    response = _ask(clinician, study.study_uid)

    assert response.status_code == 201, response.content
    body = response.json()
    assert body["answer"].startswith("Yes. The signed report describes pleural effusion")
    assert body["intent"] == "presence" and body["answerable"] is True
    sources = {e["source"]: e for e in body["evidence"]}
    assert sources["signed_report"]["sentence"] == "Small right pleural effusion."
    ai = sources["ai_draft"]
    assert ai["label"] == "Pleural Effusion" and ai["confidence"] == pytest.approx(0.91)
    assert ai["bounding_box"] == [120, 340, 410, 620]
    report_id = study.report.pk
    assert ai["heatmap_url"] == f"/api/v1/reports/{report_id}/heatmaps/pleural_effusion.png"
    assert "demonstration model" in body["notice"]
    assert body["asked_by"] == "clinician"


def test_it_stores_and_audits_every_question_and_lists_them_newest_first(reader: Any) -> None:
    study = drafted_study()
    _ask(reader, study.study_uid, "Where is the effusion?")
    _ask(reader, study.study_uid, "What is the blood pressure?")

    stored = list(Question.objects.order_by("asked_at", "id"))
    assert [q.intent for q in stored] == ["location", "unanswerable"]
    assert stored[1].answer.startswith("I cannot answer that from this study")
    assert stored[0].payload["evidence"][0]["bounding_box"] == [120, 340, 410, 620]
    audit = AuditEvent.objects.filter(object_type="question", action=AuditAction.VIEW)
    assert audit.count() == 2
    row = audit.get(object_id=str(stored[0].pk))
    assert row.study_uid == study.study_uid and row.username == "reader"
    assert "Where is the effusion?" in row.detail and "right side" in row.detail

    listed = _client(reader).get(f"/api/v1/studies/{study.study_uid}/questions").json()
    assert [q["question"] for q in listed["questions"]] == [
        "What is the blood pressure?",
        "Where is the effusion?",
    ]


def test_it_compares_with_the_patients_prior_study(reader: Any) -> None:
    prior = drafted_study(study_date=dt.date(2025, 11, 20))
    sign(prior, reader)
    now = drafted_study(patient=prior.patient, study_date=dt.date(2026, 3, 2))

    body = _ask(reader, now.study_uid, "Has the effusion changed since the prior?").json()

    assert body["intent"] == "change"
    assert "persists since the prior of 2025-11-20" in body["answer"]
    assert body["prior"] == {"study_uid": prior.study_uid, "study_date": "2025-11-20"}
    assert any(e["is_prior"] for e in body["evidence"])


@pytest.mark.parametrize(
    ("actor", "signed", "granted", "status"),
    [
        ("reader", False, False, 201),  # radiologists: any study, drafts too
        ("administrator", False, False, 201),
        ("clinician", True, True, 201),  # the referring clinician, once signed
        ("clinician", False, True, 404),  # drafts do not exist for clinicians
        ("clinician", True, False, 404),  # not their patient
        ("manager", True, True, 403),  # managers: no PHI
        ("outsider", True, True, 403),
    ],
)
def test_the_access_matrix(
    request: pytest.FixtureRequest,
    reader: Any,
    actor: str,
    signed: bool,
    granted: bool,
    status: int,
) -> None:
    user = request.getfixturevalue(actor)
    study = drafted_study()
    if signed:
        sign(study, reader)
    if granted:
        grant(study, user)

    response = _ask(user, study.study_uid)

    assert response.status_code == status, response.content
    listed = _client(user).get(f"/api/v1/studies/{study.study_uid}/questions")
    assert listed.status_code == (200 if status == 201 else status)
    if status != 201:
        assert not Question.objects.exists()
        assert AuditEvent.objects.filter(
            action=AuditAction.DENIED, outcome=AuditOutcome.DENIED, username=actor
        ).exists()


def test_an_anonymous_caller_is_refused(reader: Any) -> None:
    study = drafted_study()
    assert _ask(None, study.study_uid).status_code in (401, 403)


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        ({"question": ""}, "empty"),
        ({"question": "   "}, "empty"),
        ({"question": "x" * 501}, "longer than 500"),
        ({}, "A question is required"),
        ({"question": ["not", "text"]}, "Not a valid string"),
    ],
)
def test_bad_input_gets_400_with_a_message_and_stores_nothing(
    reader: Any, payload: dict[str, Any], message: str
) -> None:
    study = drafted_study()
    response = _client(reader).post(
        f"/api/v1/studies/{study.study_uid}/questions", payload, format="json"
    )
    assert response.status_code == 400
    assert message in response.json()["detail"]
    assert not Question.objects.exists()


def test_an_unknown_study_is_404_with_a_message(reader: Any) -> None:
    response = _ask(reader, "1.2.3.4.5.6")
    assert response.status_code == 404
    assert "no study" in response.json()["detail"]


def test_a_clinician_never_sees_questions_asked_about_the_draft(
    reader: Any, clinician: Any
) -> None:
    study = drafted_study()
    _ask(reader, study.study_uid, "Is the heart enlarged?")  # answered from the draft
    sign(study, reader)
    grant(study, clinician)
    _ask(clinician, study.study_uid, "Is there a pleural effusion?")

    seen = _client(clinician).get(f"/api/v1/studies/{study.study_uid}/questions").json()
    assert [q["question"] for q in seen["questions"]] == ["Is there a pleural effusion?"]
    everyone = _client(reader).get(f"/api/v1/studies/{study.study_uid}/questions").json()
    assert len(everyone["questions"]) == 2
