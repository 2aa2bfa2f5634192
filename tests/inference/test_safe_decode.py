"""inference.safe_decode: compressed pixels decoded in a limited child process."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pydicom
import pytest
from pydicom.uid import RLELossless

from inference.preprocess import PixelDataError
from inference.safe_decode import DecodeLimits, read_for_pixels
from tests.factories import cr_dataset, write


def test_it_decodes_compressed_pixels_in_a_child_and_keeps_the_instance(tmp_path: Path) -> None:
    ds = cr_dataset(rows=32, columns=32, seed=3)
    expected = ds.pixel_array.copy()
    ds.compress(RLELossless)
    path = write(ds, tmp_path / "rle.dcm")

    decoded = read_for_pixels(path)

    assert not decoded.file_meta.TransferSyntaxUID.is_compressed
    assert decoded.SOPInstanceUID == ds.SOPInstanceUID
    assert np.array_equal(decoded.pixel_array, expected)


def test_it_refuses_a_declared_image_larger_than_the_limit_before_decoding(
    tmp_path: Path,
) -> None:
    ds = cr_dataset(rows=32, columns=32)
    ds.Rows = ds.Columns = 60000
    path = write(ds, tmp_path / "huge.dcm")

    with pytest.raises(PixelDataError, match="declares"):
        read_for_pixels(path, DecodeLimits(max_pixel_bytes=64 * 1024 * 1024))


def test_a_decoder_that_runs_out_of_memory_is_a_pixel_data_error(tmp_path: Path) -> None:
    ds = cr_dataset(rows=1024, columns=1024)
    ds.compress(RLELossless)
    path = write(ds, tmp_path / "rle.dcm")

    # The child limits itself after its imports: 64 MiB is less than it already maps, so
    # the decoder's first large allocation fails.
    with pytest.raises(PixelDataError, match="cannot be decoded"):
        read_for_pixels(path, DecodeLimits(address_space_bytes=64 * 1024 * 1024))


def test_uncompressed_pixels_stay_in_process(tmp_path: Path) -> None:
    path = write(cr_dataset(rows=16, columns=16), tmp_path / "plain.dcm")

    assert read_for_pixels(path).pixel_array.shape == (16, 16)
    assert pydicom.dcmread(path).SOPInstanceUID == read_for_pixels(path).SOPInstanceUID
