"""GET /api/v1/studies lists studies in worklist order with filters."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from workstation.studies.models import ClinicalContext, Patient, Study

pytestmark = pytest.mark.django_db


def _study(
    uid: str,
    *,
    patient: str = "P1",
    modality: str = "CR",
    priority: float = 0.0,
    date: dt.date | None = None,
    status: str = "receiving",
) -> Study:
    patient_row, _ = Patient.objects.get_or_create(
        patient_id=patient, issuer="", defaults={"name": f"Doe^{patient}"}
    )
    study = Study.objects.create(
        study_uid=uid,
        patient=patient_row,
        modalities=modality,
        priority=priority,
        study_date=date,
        status=status,
        last_instance_at=timezone.now(),
        accession_number=f"A{uid[-1]}",
    )
    ClinicalContext.objects.create(study=study, indication="cough")
    return study


def _get(user: object, **params: object) -> object:
    client = APIClient()
    client.force_authenticate(user)
    return client.get("/api/v1/studies", params)


def test_it_lists_studies_highest_priority_first(reader: object) -> None:
    _study("1.1", priority=0.1)
    _study("1.2", priority=0.9)
    _study("1.3", priority=0.5)

    body = _get(reader).json()  # type: ignore[attr-defined]

    assert [s["study_uid"] for s in body["results"]] == ["1.2", "1.3", "1.1"]
    assert body["count"] == 3
    assert body["results"][0]["indication"] == "cough"


def test_it_filters_by_modality_patient_status_and_date(reader: object) -> None:
    _study("1.1", modality="CR", date=dt.date(2026, 1, 1))
    _study("1.2", modality="CT", patient="P2", date=dt.date(2026, 2, 1), status="not_drafted")

    def uids(**params: object) -> list[str]:
        return [s["study_uid"] for s in _get(reader, **params).json()["results"]]  # type: ignore[attr-defined]

    assert uids(modality="CT") == ["1.2"]
    assert uids(patient_id="P1") == ["1.1"]
    assert uids(status="not_drafted") == ["1.2"]
    assert uids(date_from="2026-01-15") == ["1.2"]
    assert uids(q="Doe^P2") == ["1.2"]


def test_it_pages_results(reader: object) -> None:
    for i in range(5):
        _study(f"1.{i}")

    body = _get(reader, limit=2, offset=2).json()  # type: ignore[attr-defined]

    assert len(body["results"]) == 2 and body["count"] == 5 and body["next"]


@pytest.mark.parametrize(
    "params", [{"status": "bogus"}, {"date_from": "yesterday"}, {"modality": "../x"}]
)
def test_it_answers_400_for_bad_filters(reader: object, params: dict[str, str]) -> None:
    response = _get(reader, **params)

    assert response.status_code == 400  # type: ignore[attr-defined]
    assert response.json()["detail"] == "invalid input"  # type: ignore[attr-defined]


def test_it_refuses_a_user_without_a_role(outsider: object) -> None:
    assert _get(outsider).status_code == 403  # type: ignore[attr-defined]


def test_the_schema_is_served(reader: object) -> None:
    client = APIClient()
    client.force_authenticate(reader)

    response = client.get("/api/schema/")

    assert response.status_code == 200
    assert b"/api/v1/studies" in response.content
