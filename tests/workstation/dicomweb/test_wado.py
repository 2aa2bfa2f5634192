"""WADO-RS: content negotiation, frames, rendered images, and errors for what cannot be served."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pydicom
import pytest
from PIL import Image
from rest_framework.test import APIClient

from tests.factories import cr_dataset, write
from tests.workstation.dicomweb.conftest import ingest
from workstation.dicomweb.multipart import media_type_parse, multipart_split


@pytest.fixture
def image(api: APIClient, tmp_path: Path) -> pydicom.Dataset:
    ds = cr_dataset(rows=16, columns=12)
    ingest(write(ds, tmp_path / "image.dcm"))
    return ds


def _url(ds: pydicom.Dataset) -> str:
    return (
        f"/dicomweb/studies/{ds.StudyInstanceUID}/series/{ds.SeriesInstanceUID}"
        f"/instances/{ds.SOPInstanceUID}"
    )


def _parts(response: object) -> list[object]:
    content_type = media_type_parse(response["Content-Type"])  # type: ignore[index]
    return multipart_split(response.content, content_type.params["boundary"])  # type: ignore[attr-defined,return-value]


def test_it_serves_native_frames_as_octet_stream(api: APIClient, image: pydicom.Dataset) -> None:
    response = api.get(
        f"{_url(image)}/frames/1",
        HTTP_ACCEPT='multipart/related; type="application/octet-stream"; transfer-syntax=*',
    )
    assert response.status_code == 200
    assert media_type_parse(response["Content-Type"]).params["type"] == "application/octet-stream"
    (part,) = _parts(response)
    assert part.content_type == "application/octet-stream"  # type: ignore[attr-defined]
    pixels = np.frombuffer(part.body, dtype="<u2").reshape(16, 12)  # type: ignore[attr-defined]
    assert np.array_equal(pixels, image.pixel_array)


def test_it_answers_404_for_a_frame_the_instance_lacks(
    api: APIClient, image: pydicom.Dataset
) -> None:
    response = api.get(f"{_url(image)}/frames/2")
    assert response.status_code == 404
    assert "frame 2 does not exist" in response.json()["detail"]
    assert api.get(f"{_url(image)}/frames/0").status_code == 400


def test_it_answers_406_when_no_dicom_representation_is_acceptable(
    api: APIClient, image: pydicom.Dataset
) -> None:
    assert api.get(_url(image), HTTP_ACCEPT="application/json").status_code == 406
    response = api.get(
        _url(image),
        HTTP_ACCEPT=(
            'multipart/related; type="application/dicom"; transfer-syntax=1.2.840.10008.1.2.4.50'
        ),
    )
    assert response.status_code == 406


def test_it_answers_404_for_unknown_or_mismatched_uids(
    api: APIClient, image: pydicom.Dataset
) -> None:
    assert (
        api.get(f"/dicomweb/studies/{image.StudyInstanceUID}/series/1.2.3/metadata").status_code
        == 404
    )
    assert api.get("/dicomweb/studies/1.2.3").status_code == 404


def test_it_renders_jpeg_by_default_and_png_on_request(
    api: APIClient, image: pydicom.Dataset
) -> None:
    jpeg = api.get(f"{_url(image)}/rendered", {"window": "2048,4096,linear", "quality": "80"})
    assert jpeg["Content-Type"] == "image/jpeg"
    assert Image.open(io.BytesIO(jpeg.content)).size == (12, 16)
    png = api.get(f"{_url(image)}/frames/1/rendered", HTTP_ACCEPT="image/png")
    assert png["Content-Type"] == "image/png"
    thumbnail = api.get(f"{_url(image)}/thumbnail")
    assert thumbnail.status_code == 200


@pytest.mark.parametrize(
    "params",
    [
        {"window": "100"},
        {"window": "100,0"},
        {"window": "1,2,sigmoid"},
        {"viewport": "x"},
        {"quality": "0"},
    ],
)
def test_it_answers_400_for_bad_rendering_parameters(
    api: APIClient, image: pydicom.Dataset, params: dict[str, str]
) -> None:
    assert api.get(f"{_url(image)}/rendered", params).status_code == 400


def test_it_hides_studies_outside_a_clinicians_scope(
    image: pydicom.Dataset, clinician: object
) -> None:
    client = APIClient()
    client.force_authenticate(clinician)  # type: ignore[arg-type]
    # Clinicians have no image permission at all; radiologists see every study.
    assert client.get(f"{_url(image)}/metadata").status_code == 403
