"""inference.preprocess: model input preparation and frontal view selection."""

from __future__ import annotations

import numpy as np
import pydicom
import pytest
from pydicom.dataset import Dataset

from inference.backends.base import NoFrontalImage
from inference.preprocess import (
    FRONTAL_SYMMETRY_MIN,
    PIXEL_MEAN,
    PIXEL_STD,
    ViewKind,
    classify_view,
    display_float,
    display_image,
    letterbox,
    mirror_symmetry,
    modality_values,
    normalise,
    prepare_image,
    resize_prepared,
    select_frontal,
    to_original,
)
from tests.factories import SHARED_DICOM, cr_dataset, shared_dicom

NEMA = "nema_RG1_chest_CR_UNCI.dcm"  # MONOCHROME1
SIIM = "siim_1.2.276.0.7230010.3.1.4.8323329.6904.1517875201.850819.dcm"  # MONOCHROME2
IU_IMAGES = SHARED_DICOM.parent / "iu-xray-sample" / "images"


def _from_png(name: str) -> Dataset:
    """An 8-bit MONOCHROME2 dataset with no view metadata, pixels from an IU sample PNG."""
    from PIL import Image

    path = IU_IMAGES / name
    if not path.is_file():
        pytest.skip("../shared/data/iu-xray-sample is absent")
    pixels = np.asarray(Image.open(path).convert("L"), dtype=np.uint8)
    ds = cr_dataset(rows=pixels.shape[0], columns=pixels.shape[1])
    del ds.ViewPosition
    ds.BitsAllocated, ds.BitsStored, ds.HighBit = 8, 8, 7
    ds.PixelData = pixels.tobytes()
    return ds


def _lungs_darker_than_mediastinum(pixels: np.ndarray) -> bool:
    size = pixels.shape[0]
    middle = slice(size // 3, 2 * size // 3)
    lungs = np.concatenate(
        [
            pixels[middle, size // 5 : size // 3].ravel(),
            pixels[middle, 2 * size // 3 : 4 * size // 5].ravel(),
        ]
    )
    mediastinum = pixels[middle, 7 * size // 16 : 9 * size // 16]
    return float(lungs.mean()) + 0.05 < float(mediastinum.mean())


def test_it_letterboxes_keeping_aspect_and_records_the_mapping() -> None:
    image = np.ones((50, 100), dtype=np.float32)
    square, scale, offset = letterbox(image, 64)
    assert square.shape == (64, 64) and square.dtype == np.float32
    assert scale == pytest.approx(0.64)
    assert offset == (16, 0)
    assert square[:16].max() == 0 and square[16:48].min() > 0.99 and square[48:].max() == 0


def test_it_prepares_a_dataset_as_float_pixels_with_its_geometry() -> None:
    ds = cr_dataset(rows=80, columns=40, seed=3)
    prepared = prepare_image(ds, size=64)
    assert prepared.pixels.shape == (64, 64) and prepared.pixels.dtype == np.float32
    assert prepared.pixels.min() >= 0.0 and prepared.pixels.max() <= 1.0
    assert prepared.original_shape == (80, 40)
    assert prepared.scale == pytest.approx(0.8) and prepared.offset == (0, 16)
    assert prepared.sop_uid == ds.SOPInstanceUID and prepared.view_position == "PA"


def test_it_inverts_monochrome1() -> None:
    mono2 = prepare_image(cr_dataset(seed=1), size=64).pixels
    mono1 = prepare_image(cr_dataset(seed=1, photometric="MONOCHROME1"), size=64).pixels
    np.testing.assert_allclose(mono1, 1.0 - mono2, atol=1e-5)


def test_it_keeps_display_image_the_8_bit_version_of_the_float_pipeline() -> None:
    ds = cr_dataset(seed=2, photometric="MONOCHROME1")
    values = modality_values(ds)
    expected = np.rint(display_float(ds, values) * 255).astype(np.uint8)
    np.testing.assert_array_equal(display_image(ds, values), expected)


def test_it_normalises_with_the_fixed_constants() -> None:
    pixels = np.array([[PIXEL_MEAN, PIXEL_MEAN + PIXEL_STD]], dtype=np.float32)
    np.testing.assert_allclose(normalise(pixels), [[0.0, 1.0]])
    assert normalise(pixels).dtype == np.float32


def test_it_maps_a_model_map_back_to_original_pixels() -> None:
    prepared = prepare_image(cr_dataset(rows=40, columns=80), size=64)
    model_map = np.zeros((64, 64), dtype=np.float32)
    model_map[16:24, 32:40] = 1.0  # original rows 0..9, columns 40..49 (scale 0.8, offset 16)
    original = to_original(model_map, prepared)
    assert original.shape == (40, 80)
    rows, cols = np.nonzero(original > 0.5)
    assert 0 <= rows.min() <= 1 and 8 <= rows.max() <= 10
    assert 39 <= cols.min() <= 41 and 48 <= cols.max() <= 50


def test_it_resizes_a_prepared_image_with_its_geometry() -> None:
    prepared = prepare_image(cr_dataset(rows=40, columns=80), size=128)
    smaller = resize_prepared(prepared, 64)
    assert smaller.pixels.shape == (64, 64)
    assert smaller.scale == pytest.approx(0.8) and smaller.offset == (16, 0)


@pytest.mark.parametrize("name", [NEMA, SIIM])
def test_it_shows_dark_lungs_on_real_films(name: str) -> None:
    ds = pydicom.dcmread(shared_dicom(name)[0])
    prepared = prepare_image(ds, size=256)
    assert _lungs_darker_than_mediastinum(prepared.pixels)


def test_it_orders_frontal_first_from_view_position() -> None:
    lateral = cr_dataset(ViewPosition="LL")
    frontal = cr_dataset(ViewPosition="AP")
    oblique = cr_dataset(ViewPosition="RLO")
    assert select_frontal([lateral, oblique, frontal]) == [frontal, lateral]


def test_it_reads_view_code_sequence_and_series_description() -> None:
    coded = cr_dataset()
    del coded.ViewPosition
    item = Dataset()
    item.CodeValue, item.CodeMeaning = "R-10206", "antero-posterior"
    coded.ViewCodeSequence = [item]
    described = cr_dataset(SeriesDescription="CHEST LAT")
    del described.ViewPosition
    assert classify_view(coded).kind is ViewKind.FRONTAL
    assert classify_view(described).kind is ViewKind.LATERAL


def test_it_falls_back_to_mirror_symmetry_when_metadata_is_silent() -> None:
    frontal = _from_png("CXR7_IM-2263-1001.png")
    lateral = _from_png("CXR7_IM-2263-2001.png")
    assert mirror_symmetry(display_float(frontal, modality_values(frontal))) >= FRONTAL_SYMMETRY_MIN
    assert classify_view(lateral).kind is ViewKind.LATERAL
    assert classify_view(frontal).source == "symmetry"
    assert select_frontal([lateral, frontal]) == [frontal, lateral]


def test_it_finds_the_real_films_frontal_without_view_position() -> None:
    for name in (NEMA, SIIM):
        ds = pydicom.dcmread(shared_dicom(name)[0])
        del ds.ViewPosition
        if "SeriesDescription" in ds:
            del ds.SeriesDescription
        assert classify_view(ds).kind is ViewKind.FRONTAL, name


def test_it_raises_no_frontal_image_for_laterals_only() -> None:
    with pytest.raises(NoFrontalImage):
        select_frontal([cr_dataset(ViewPosition="LL"), cr_dataset(ViewPosition="RL")])


def test_it_raises_no_frontal_image_for_a_one_pixel_image() -> None:
    with pytest.raises(NoFrontalImage, match="too small"):
        select_frontal([cr_dataset(rows=1, columns=1)])


def test_it_raises_no_frontal_image_for_an_empty_study() -> None:
    with pytest.raises(NoFrontalImage):
        select_frontal([])
