"""QIDO-RS: attribute matching (exact, wildcards, date ranges, UID lists), includefield,
limit/offset with a bounded maximum, access scope, audit, and 400s for bad queries."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.contrib.auth.models import AbstractUser
from pydicom.uid import generate_uid
from rest_framework.test import APIClient

from tests.factories import cr_dataset, write
from tests.workstation.dicomweb.conftest import ingest
from workstation.audit.models import AuditEvent


def _study(tmp_path: Path, **attributes: object) -> str:
    ds = cr_dataset(rows=8, columns=8, **attributes)
    ingest(write(ds, tmp_path / f"{ds.SOPInstanceUID}.dcm"))
    return str(ds.StudyInstanceUID)


@pytest.fixture
def three_studies(db: None, tmp_path: Path, storage_dir: Path) -> list[str]:
    return [
        _study(tmp_path, patient_id="P1", PatientName="Smith^Anne", StudyDate="20240105"),
        _study(tmp_path, patient_id="P2", PatientName="Smythe^Bob", StudyDate="20240210"),
        _study(tmp_path, patient_id="P3", PatientName="Jones^Carl", StudyDate="20240315"),
    ]


def _uids(response: object) -> set[str]:
    return {row["0020000D"]["Value"][0] for row in response.json()}  # type: ignore[attr-defined]


def test_it_matches_names_by_wildcard_case_insensitively(
    api: APIClient, three_studies: list[str]
) -> None:
    response = api.get("/dicomweb/studies", {"PatientName": "sm?th^*"})
    assert response.status_code == 200
    assert response["Content-Type"] == "application/dicom+json"
    assert _uids(response) == {three_studies[0]}
    assert _uids(api.get("/dicomweb/studies", {"00100010": "SM*"})) == set(three_studies[:2])


def test_it_matches_date_ranges_open_and_closed(api: APIClient, three_studies: list[str]) -> None:
    assert _uids(api.get("/dicomweb/studies", {"StudyDate": "20240201-20240331"})) == set(
        three_studies[1:]
    )
    assert _uids(api.get("/dicomweb/studies", {"StudyDate": "-20240105"})) == {three_studies[0]}
    assert _uids(api.get("/dicomweb/studies", {"StudyDate": "20240315-"})) == {three_studies[2]}


def test_it_matches_uid_lists(api: APIClient, three_studies: list[str]) -> None:
    wanted = f"{three_studies[0]},{three_studies[2]}"
    assert _uids(api.get("/dicomweb/studies", {"StudyInstanceUID": wanted})) == {
        three_studies[0],
        three_studies[2],
    }


def test_it_returns_patient_attributes_on_series_only_with_includefield(
    api: APIClient, three_studies: list[str]
) -> None:
    plain = api.get(f"/dicomweb/studies/{three_studies[0]}/series").json()
    assert "00100010" not in plain[0] and "00080060" in plain[0]
    included = api.get(
        f"/dicomweb/studies/{three_studies[0]}/series", {"includefield": "PatientName"}
    ).json()
    assert included[0]["00100010"]["Value"][0]["Alphabetic"] == "Smith^Anne"
    everything = api.get("/dicomweb/series", {"includefield": "all"}).json()
    assert len(everything) == 3 and "00100030" in everything[0]


def test_it_pages_and_warns_when_more_results_exist(
    api: APIClient, three_studies: list[str], settings: object
) -> None:
    settings.DICOMWEB_MAX_RESULTS = 2  # type: ignore[attr-defined]
    first = api.get("/dicomweb/studies")
    assert len(first.json()) == 2 and first["Warning"].startswith("299 ")
    rest = api.get("/dicomweb/studies", {"offset": 2, "limit": 500})
    assert len(rest.json()) == 1 and "Warning" in rest  # 500 was capped at the maximum
    assert _uids(first) | _uids(rest) == set(three_studies)


def test_it_ignores_fuzzymatching(api: APIClient, three_studies: list[str]) -> None:
    response = api.get("/dicomweb/studies", {"PatientName": "Jones*", "fuzzymatching": "true"})
    assert _uids(response) == {three_studies[2]}


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"NoSuchAttribute": "x"}, "not a DICOM attribute"),
        ({"SOPInstanceUID": "1.2.3"}, "not a query attribute at the STUDY level"),
        ({"StudyDate": "20240301-20240101"}, "ends before it starts"),
        ({"StudyDate": "2024-03-01"}, "not a date"),
        ({"StudyInstanceUID": "../../etc"}, "not a valid UID"),
        ({"limit": "0"}, "limit must be at least 1"),
        ({"offset": "minus"}, "not an integer"),
        ({"includefield": "NotAnAttribute"}, "not a DICOM attribute"),
        ({"NumberOfStudyRelatedInstances": "3"}, "returned but not matched"),
    ],
)
def test_it_answers_bad_queries_with_400_and_a_message(
    api: APIClient, three_studies: list[str], params: dict[str, str], message: str
) -> None:
    response = api.get("/dicomweb/studies", params)
    assert response.status_code == 400
    assert message in response.json()["detail"]


def test_it_shows_clinicians_only_their_studies(
    three_studies: list[str], clinician: AbstractUser
) -> None:
    from workstation.studies.models import Study, StudyAccess

    StudyAccess.objects.create(study=Study.objects.get(study_uid=three_studies[1]), user=clinician)
    client = APIClient()
    client.force_authenticate(clinician)
    assert _uids(client.get("/dicomweb/studies")) == {three_studies[1]}


def test_it_refuses_managers_and_anonymous_callers(
    three_studies: list[str], manager: AbstractUser
) -> None:
    assert APIClient().get("/dicomweb/studies").status_code in (401, 403)
    client = APIClient()
    client.force_authenticate(manager)
    assert client.get("/dicomweb/studies").status_code == 403


def test_it_writes_an_audit_row_per_search(api: APIClient, three_studies: list[str]) -> None:
    api.get("/dicomweb/studies", {"PatientID": "P2"})
    event = AuditEvent.objects.get(object_type="qido")
    assert event.username == "reader" and "1 matches" in event.detail


def test_it_finds_instances_of_a_series_by_number(
    api: APIClient, tmp_path: Path, storage_dir: Path
) -> None:
    study, series = generate_uid(), generate_uid()
    for number in (1, 2, 3):
        ds = cr_dataset(
            rows=8, columns=8, study_uid=study, series_uid=series, InstanceNumber=number
        )
        ingest(write(ds, tmp_path / f"{number}.dcm"))
    rows = api.get(f"/dicomweb/studies/{study}/series/{series}/instances").json()
    assert [r["00200013"]["Value"][0] for r in rows] == [1, 2, 3]
    (two,) = api.get("/dicomweb/instances", {"InstanceNumber": "2"}).json()
    assert two["00081190"]["Value"][0].endswith(two["00080018"]["Value"][0])


def test_it_answers_406_when_only_xml_is_acceptable(
    api: APIClient, three_studies: list[str]
) -> None:
    assert api.get("/dicomweb/studies", HTTP_ACCEPT="application/dicom+xml").status_code == 406
    assert api.get("/dicomweb/studies", HTTP_ACCEPT=DICOM_JSON_ACCEPT).status_code == 200


DICOM_JSON_ACCEPT = "application/dicom+json, multipart/related; type=application/dicom+xml"
