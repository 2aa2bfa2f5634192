"""POST /api/v1/instances takes one Part 10 file through the same ingest as C-STORE."""

from __future__ import annotations

from pathlib import Path

import pytest
from rest_framework.test import APIClient

from tests.factories import cr_dataset, shared_dicom, write
from workstation.studies.models import Instance

pytestmark = pytest.mark.django_db(transaction=True)


def _post(user: object, body: bytes, content_type: str = "application/dicom") -> object:
    client = APIClient()
    client.force_authenticate(user)
    return client.generic("POST", "/api/v1/instances", body, content_type=content_type)


def test_it_stores_an_uploaded_file_once(reader: object, storage_dir: Path, tmp_path: Path) -> None:
    body = write(cr_dataset(), tmp_path / "a.dcm").read_bytes()

    first, again = _post(reader, body), _post(reader, body)

    assert first.status_code == 201  # type: ignore[attr-defined]
    assert again.status_code == 200  # type: ignore[attr-defined]
    assert Instance.objects.count() == 1
    assert list(storage_dir.rglob("*.dcm"))


def test_it_answers_400_for_a_file_without_meta_header(reader: object, storage_dir: Path) -> None:
    (path,) = shared_dicom("extra/pydicom_no_meta.dcm")

    response = _post(reader, path.read_bytes())

    assert response.status_code == 400  # type: ignore[attr-defined]
    assert "Part 10" in response.json()["detail"]  # type: ignore[attr-defined]
    assert Instance.objects.count() == 0


@pytest.mark.parametrize(
    "body",
    [b"", b"GIF89a not dicom", b"\0" * 128 + b"DICM" + b"\xff" * 40],
    ids=["empty", "non-dicom", "broken-meta"],
)
def test_it_answers_400_for_bytes_that_are_not_dicom(
    reader: object, storage_dir: Path, body: bytes
) -> None:
    response = _post(reader, body)

    assert response.status_code == 400  # type: ignore[attr-defined]
    assert response.json()["detail"]  # type: ignore[attr-defined]
    assert list(storage_dir.rglob("*.dcm")) == []


def test_it_answers_415_for_another_content_type(reader: object) -> None:
    response = _post(reader, b"{}", content_type="application/json")

    assert response.status_code == 415  # type: ignore[attr-defined]


def test_it_answers_415_for_an_unsupported_sop_class(reader: object, storage_dir: Path) -> None:
    (path,) = shared_dicom("extra/highdicom_seg_image_cr_binary.dcm")

    response = _post(reader, path.read_bytes())

    assert response.status_code == 415  # type: ignore[attr-defined]
    assert response.json()["dimse_status"] == "0x0122"  # type: ignore[attr-defined]


def test_it_answers_400_for_a_path_like_uid(
    reader: object, storage_dir: Path, tmp_path: Path
) -> None:
    body = write(cr_dataset(SeriesInstanceUID="../../etc"), tmp_path / "evil.dcm").read_bytes()

    response = _post(reader, body)

    assert response.status_code == 400  # type: ignore[attr-defined]
    assert "conformant" in response.json()["detail"]  # type: ignore[attr-defined]


def test_it_refuses_a_clinician(clinician: object, tmp_path: Path) -> None:
    body = write(cr_dataset(), tmp_path / "a.dcm").read_bytes()

    assert _post(clinician, body).status_code == 403  # type: ignore[attr-defined]
