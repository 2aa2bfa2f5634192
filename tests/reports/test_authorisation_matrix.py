"""Per-object authorisation (no IDOR): every user x report x endpoint, against a policy
table written out here, not derived from the code under test.

Policy: radiologists and admins reach every report; a clinician reads (and exports) only
the signed report of a study granted to them, every other report is 404 to them, and edits are
403 whatever the identifier; managers, users without a role and anonymous callers get 403
whatever the identifier.
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from django.db import transaction
from rest_framework.test import APIClient

from reports import services
from reports.models import Report
from tests.conftest import PASSWORD
from tests.reports.factories import draft_make, report_of, study_make
from workstation.studies.models import StudyAccess

pytestmark = pytest.mark.django_db

PATIENT = "Secret^Patient"


@dataclass(frozen=True)
class Endpoint:
    name: str
    method: str
    path: str  # {id} and {uid} are filled in
    body: dict[str, object]
    reads: bool  # a read (clinicians may) rather than an edit


ENDPOINTS = (
    Endpoint("report", "get", "/api/v1/reports/{id}", {}, True),
    Endpoint("record", "get", "/api/v1/studies/{uid}/report-record", {}, True),
    Endpoint("fhir", "get", "/api/v1/reports/{id}/fhir", {}, True),
    Endpoint("bundle", "get", "/api/v1/reports/{id}/fhir/bundle", {}, True),
    Endpoint(
        "save",
        "post",
        "/api/v1/reports/{id}/versions",
        {"based_on_version": 0, "findings": "x", "impression": "y"},
        False,
    ),
    Endpoint("claim", "post", "/api/v1/reports/{id}/claim", {}, False),
    Endpoint("release", "delete", "/api/v1/reports/{id}/claim", {}, False),
    Endpoint(
        "sign",
        "post",
        "/api/v1/reports/{id}/sign",
        {"password": PASSWORD, "based_on_version": 0},
        False,
    ),
    Endpoint("addendum", "post", "/api/v1/reports/{id}/addenda", {"text": "Addendum."}, False),
    Endpoint("reject", "post", "/api/v1/reports/{id}/reject-draft", {"based_on_version": 0}, False),
)
USERS = ("reader", "administrator", "clinician", "manager", "outsider", "anonymous")
OBJECTS = ("draft_granted", "signed_granted", "signed_other")

ALLOWED, FORBIDDEN, HIDDEN = "allowed", "forbidden", "hidden"


def expected(user: str, obj: str, endpoint: Endpoint) -> str:
    if user in ("reader", "administrator"):
        return ALLOWED
    if user != "clinician" or not endpoint.reads:
        return FORBIDDEN
    return ALLOWED if obj == "signed_granted" else HIDDEN


@pytest.fixture
def reports(reader: object, clinician: object) -> dict[str, Report]:
    draft = report_of(draft_make(study=study_make(patient_name=PATIENT)))
    signed = report_of(draft_make(study=study_make(patient_name=PATIENT)))
    other = report_of(draft_make(study=study_make(patient_name=PATIENT)))
    for report in (signed, other):
        services.report_sign(report=report, user=reader, password=PASSWORD, based_on_version=0)  # type: ignore[arg-type]
    for report in (draft, signed):
        StudyAccess.objects.create(study=report.study, user=clinician)  # type: ignore[misc]
    fresh = Report.objects.select_related("study")
    return {
        "draft_granted": fresh.get(pk=draft.pk),
        "signed_granted": fresh.get(pk=signed.pk),
        "signed_other": fresh.get(pk=other.pk),
    }


@pytest.mark.parametrize("endpoint", ENDPOINTS, ids=lambda e: e.name)
@pytest.mark.parametrize("user", USERS)
def test_it_answers_each_user_object_and_method_as_the_policy_says(
    request: pytest.FixtureRequest, reports: dict[str, Report], user: str, endpoint: Endpoint
) -> None:
    client = APIClient()
    if user != "anonymous":
        client.force_authenticate(request.getfixturevalue(user))
    wrong = []
    for obj in OBJECTS:  # each object in a savepoint, so one call cannot change the next
        report = reports[obj]
        path = endpoint.path.format(id=report.pk, uid=report.study.study_uid)
        with transaction.atomic():
            response = getattr(client, endpoint.method)(path, endpoint.body, format="json")
            head_after = Report.objects.get(pk=report.pk).head_number
            transaction.set_rollback(True)
        want = expected(user, obj, endpoint)
        code = response.status_code
        ok = (
            code not in (401, 403, 404)
            if want == ALLOWED
            else code in (401, 403)
            if want == FORBIDDEN
            else code == 404
        )
        if want != ALLOWED:
            ok = ok and PATIENT.encode() not in response.content
            ok = ok and head_after == report.head_number  # a refused call changed nothing
        if not ok:
            wrong.append(f"{obj}: expected {want}, got {code} {response.content[:120]!r}")

    assert not wrong, wrong


def test_the_matrix_covers_every_combination() -> None:
    assert len(USERS) * len(OBJECTS) * len(ENDPOINTS) == 180


@pytest.mark.parametrize("user", ["clinician", "manager", "outsider"])
def test_an_unknown_report_id_answers_like_a_forbidden_one(
    request: pytest.FixtureRequest, reports: dict[str, Report], user: str
) -> None:
    client = APIClient()
    client.force_authenticate(request.getfixturevalue(user))

    unknown = client.get("/api/v1/reports/999999").status_code
    hidden = client.get(f"/api/v1/reports/{reports['signed_other'].pk}").status_code

    assert unknown == hidden


def test_a_clinician_lists_only_granted_studies(
    reports: dict[str, Report], clinician: object, reader: object
) -> None:
    client = APIClient()
    client.force_authenticate(clinician)
    radiologist = APIClient()
    radiologist.force_authenticate(reader)

    seen = {s["study_uid"] for s in client.get("/api/v1/studies").json()["results"]}
    everything = {s["study_uid"] for s in radiologist.get("/api/v1/studies").json()["results"]}

    assert seen == {
        reports["draft_granted"].study.study_uid,
        reports["signed_granted"].study.study_uid,
    }
    # A superset: another process's committed studies may share this database.
    assert everything >= {r.study.study_uid for r in reports.values()}


def test_a_clinician_sees_the_signed_text_but_not_the_draft_history(
    reports: dict[str, Report], clinician: object
) -> None:
    client = APIClient()
    client.force_authenticate(clinician)

    body = client.get(f"/api/v1/reports/{reports['signed_granted'].pk}").json()

    assert body["current"]["kind"] == "signed"
    assert body["versions"] == [] and body["metrics"] is None
