"""STOW-RS: uploads go through the C-STORE ingest path; bad parts fail alone, bad requests
store nothing."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydicom.uid import generate_uid
from rest_framework.test import APIClient

from tests.factories import cr_dataset, write
from workstation.dicomweb.multipart import multipart_join
from workstation.studies.models import Instance

CT = 'multipart/related; type="application/dicom"; boundary={}'


def _file(tmp_path: Path, **attributes: object) -> bytes:
    ds = cr_dataset(rows=8, columns=8, **attributes)
    return write(ds, tmp_path / f"{ds.SOPInstanceUID}.dcm").read_bytes()


def _post(api: APIClient, parts: list[tuple[str, bytes]], url: str = "/dicomweb/studies") -> object:
    body, boundary = multipart_join(parts)
    return api.generic("POST", url, body, content_type=CT.format(boundary))


def test_it_stores_each_part_and_references_it(api: APIClient, tmp_path: Path) -> None:
    study = generate_uid()
    files = [_file(tmp_path, study_uid=study, seed=i) for i in range(2)]
    response = _post(api, [("application/dicom", f) for f in files], f"/dicomweb/studies/{study}")
    assert response.status_code == 200  # type: ignore[attr-defined]
    body = response.json()  # type: ignore[attr-defined]
    assert len(body["00081199"]["Value"]) == 2
    assert body["00081190"]["Value"][0].endswith(f"/dicomweb/studies/{study}")
    assert Instance.objects.filter(series__study__study_uid=study).count() == 2


def test_it_is_idempotent_for_a_resent_instance(api: APIClient, tmp_path: Path) -> None:
    data = _file(tmp_path)
    for _ in range(2):
        assert _post(api, [("application/dicom", data)]).status_code == 200  # type: ignore[attr-defined]
    assert Instance.objects.count() == 1


def test_it_reports_a_non_dicom_part_as_failed_and_stores_the_rest(
    api: APIClient, tmp_path: Path
) -> None:
    good = _file(tmp_path)
    response = _post(api, [("application/dicom", good), ("application/dicom", b"not dicom")])
    assert response.status_code == 202  # type: ignore[attr-defined]
    body = response.json()  # type: ignore[attr-defined]
    (failed,) = body["00081198"]["Value"]
    assert failed["00081197"]["Value"] == [0xC000]
    assert len(body["00081199"]["Value"]) == 1
    assert Instance.objects.count() == 1
    assert "Part 10" in response["Warning"]  # type: ignore[index]


def test_it_answers_409_when_nothing_could_be_stored(api: APIClient, tmp_path: Path) -> None:
    other_study = _file(tmp_path)
    response = _post(
        api, [("application/dicom", other_study)], f"/dicomweb/studies/{generate_uid()}"
    )
    assert response.status_code == 409  # type: ignore[attr-defined]
    (failed,) = response.json()["00081198"]["Value"]  # type: ignore[attr-defined]
    assert failed["00081197"]["Value"] == [0xA900]
    assert Instance.objects.count() == 0


def test_it_refuses_an_unsupported_sop_class_with_its_reason(
    api: APIClient, tmp_path: Path
) -> None:
    data = _file(tmp_path, SOPClassUID="1.2.840.10008.5.1.4.1.1.481.1")  # RT Image
    response = _post(api, [("application/dicom", data)])
    (failed,) = response.json()["00081198"]["Value"]  # type: ignore[attr-defined]
    assert failed["00081197"]["Value"] == [0x0122]


def test_it_answers_415_for_other_content_types(api: APIClient, tmp_path: Path) -> None:
    response = api.generic(
        "POST", "/dicomweb/studies", _file(tmp_path), content_type="application/dicom"
    )
    assert response.status_code == 415
    body, boundary = multipart_join([("application/json", b"{}")])
    response = api.generic(
        "POST",
        "/dicomweb/studies",
        body,
        content_type=f'multipart/related; type="application/json"; boundary={boundary}',
    )
    assert response.status_code == 415


@pytest.mark.parametrize(
    "mangle",
    [
        lambda body: body[: len(body) // 2],  # cut short: no closing delimiter
        lambda body: body.replace(b"\r\n\r\n", b"\r\n", 1),  # a part without its blank line
        lambda body: b"garbage without any boundary",
    ],
)
def test_it_stores_nothing_from_a_malformed_body(
    api: APIClient, tmp_path: Path, mangle: object
) -> None:
    body, boundary = multipart_join(
        [("application/dicom", _file(tmp_path, seed=s)) for s in range(2)]
    )
    response = api.generic(
        "POST", "/dicomweb/studies", mangle(body), content_type=CT.format(boundary)
    )  # type: ignore[operator]
    assert response.status_code == 400
    assert "malformed multipart" in response.json()["detail"]
    assert Instance.objects.count() == 0


def test_it_refuses_a_clinician(clinician: object, tmp_path: Path, storage_dir: Path) -> None:
    client = APIClient()
    client.force_authenticate(clinician)  # type: ignore[arg-type]
    assert _post(client, [("application/dicom", _file(tmp_path))]).status_code == 403  # type: ignore[attr-defined]
    assert Instance.objects.count() == 0
