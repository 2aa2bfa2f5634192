"""GET /api/v1/instances/{sop_uid}/frame renders stored pixels as a radiologist expects."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pydicom
import pytest
from PIL import Image
from rest_framework.test import APIClient

from tests.conftest import LiveScp
from tests.factories import cr_dataset, shared_dicom, write
from workstation.dicom.scu import send_files

pytestmark = pytest.mark.django_db(transaction=True)


def _client(user: object) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


def _store(scp: LiveScp, paths: list[Path]) -> None:
    results = send_files(paths, host=scp.host, port=scp.port, called_ae_title=scp.ae_title)
    assert [r.status for r in results] == [0] * len(paths)


def _regions(image: np.ndarray) -> tuple[float, float]:
    """Mean of the two lung fields and of the mediastinum on a frontal chest image."""
    h, w = image.shape
    rows = slice(int(0.3 * h), int(0.6 * h))
    lungs = np.concatenate(
        [
            image[rows, int(0.15 * w) : int(0.35 * w)].ravel(),
            image[rows, int(0.65 * w) : int(0.85 * w)].ravel(),
        ]
    )
    mediastinum = image[rows, int(0.45 * w) : int(0.55 * w)]
    return float(lungs.mean()), float(mediastinum.mean())


@pytest.mark.parametrize("path", shared_dicom() if True else [], ids=lambda p: p.name[:24])
def test_it_renders_each_real_chest_file_upright_and_not_inverted(
    live_scp: LiveScp, reader: object, path: Path
) -> None:
    _store(live_scp, [path])
    sop_uid = str(pydicom.dcmread(path, stop_before_pixels=True).SOPInstanceUID)

    response = _client(reader).get(f"/api/v1/instances/{sop_uid}/frame", {"size": 512})

    assert response.status_code == 200
    assert response["Content-Type"] == "image/png"
    image = np.asarray(Image.open(io.BytesIO(response.content)), dtype=np.float32)
    assert max(image.shape) == 512
    lungs, mediastinum = _regions(image)
    assert mediastinum > lungs + 20, "lungs must be darker than the mediastinum (not inverted)"
    # Upright: the picture correlates with the stored pixel rows in their own order, not flipped.
    source = np.asarray(pydicom.dcmread(path).pixel_array, dtype=np.float32)
    if pydicom.dcmread(path, stop_before_pixels=True).PhotometricInterpretation == "MONOCHROME1":
        source = source.max() - source
    small = np.asarray(Image.fromarray(source).resize(image.shape[::-1]), dtype=np.float32)
    upright = np.corrcoef(image.ravel(), small.ravel())[0, 1]
    flipped = np.corrcoef(image.ravel(), np.flipud(small).ravel())[0, 1]
    assert upright > 0.9 and upright > flipped + 0.2


def test_it_applies_an_explicit_window(live_scp: LiveScp, reader: object, tmp_path: Path) -> None:
    ds = cr_dataset(rows=32, columns=32)
    ds.PixelData = np.tile(np.arange(0, 4096, 128, dtype=np.uint16), (32, 1)).tobytes()
    path = write(ds, tmp_path / "ramp.dcm")
    _store(live_scp, [path])

    response = _client(reader).get(
        f"/api/v1/instances/{ds.SOPInstanceUID}/frame",
        {"window_center": 2048, "window_width": 1024},
    )

    row = np.asarray(Image.open(io.BytesIO(response.content)))[0]
    assert row[0] == 0 and row[-1] == 255  # values outside the window clip
    assert response["X-Window-Center"] == "2048"


def test_it_inverts_monochrome1(live_scp: LiveScp, reader: object, tmp_path: Path) -> None:
    ds = cr_dataset(rows=16, columns=16, photometric="MONOCHROME1")
    ds.PixelData = np.full((16, 16), 4000, dtype=np.uint16).tobytes()
    ds.WindowCenter, ds.WindowWidth = 2048, 4096
    _store(live_scp, [write(ds, tmp_path / "m1.dcm")])

    response = _client(reader).get(f"/api/v1/instances/{ds.SOPInstanceUID}/frame")

    assert np.asarray(Image.open(io.BytesIO(response.content))).max() < 20  # high value = dark
    assert response["X-Inverted"] == "1"


def test_it_serves_raw_16_bit_values_with_their_offset(
    live_scp: LiveScp, reader: object, tmp_path: Path
) -> None:
    ds = cr_dataset(rows=8, columns=8, RescaleSlope=1, RescaleIntercept=-1024)
    values = np.arange(64, dtype=np.uint16).reshape(8, 8) * 10
    ds.PixelData = values.tobytes()
    _store(live_scp, [write(ds, tmp_path / "raw.dcm")])

    response = _client(reader).get(
        f"/api/v1/instances/{ds.SOPInstanceUID}/frame", {"mode": "raw16"}
    )

    image = np.asarray(Image.open(io.BytesIO(response.content)))
    offset = float(response["X-Value-Offset"])
    assert image.dtype == np.uint16 or image.max() > 255
    assert np.array_equal(image.astype(np.int64) - offset, values.astype(np.int64) - 1024)


@pytest.mark.parametrize(
    "params",
    [
        {"window_center": 10},
        {"window_width": -5, "window_center": 1},
        {"size": 0},
        {"mode": "jpeg"},
    ],
)
def test_it_answers_400_for_bad_render_parameters(
    live_scp: LiveScp, reader: object, tmp_path: Path, params: dict[str, object]
) -> None:
    ds = cr_dataset(rows=8, columns=8)
    _store(live_scp, [write(ds, tmp_path / "x.dcm")])

    response = _client(reader).get(f"/api/v1/instances/{ds.SOPInstanceUID}/frame", params)

    assert response.status_code == 400
    assert response.json()["detail"]


def test_it_answers_404_for_an_unknown_instance(reader: object) -> None:
    response = _client(reader).get("/api/v1/instances/1.2.3.4/frame")

    assert response.status_code == 404


def test_it_refuses_a_user_without_a_reading_role(outsider: object) -> None:
    assert _client(outsider).get("/api/v1/instances/1.2.3.4/frame").status_code == 403


def test_it_refuses_anonymous_requests() -> None:
    assert APIClient().get("/api/v1/instances/1.2.3.4/frame").status_code in (401, 403)
