"""Test data: DICOM files made with pydicom, and paths to the real files in ../shared."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pytest
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, generate_uid

CR_STORAGE = "1.2.840.10008.5.1.4.1.1.1"
SHARED_DICOM = Path(__file__).resolve().parents[2] / "shared" / "data" / "dicom"


def shared_dicom(*names: str) -> list[Path]:
    """Real files from ../shared/data/dicom; skips the test when that folder is absent."""
    if not SHARED_DICOM.is_dir():
        pytest.skip("../shared/data/dicom is absent (a fresh checkout has no shared data)")
    if not names:
        return sorted(SHARED_DICOM.glob("*.dcm"))
    return [SHARED_DICOM / name for name in names]


def cr_dataset(
    *,
    rows: int = 64,
    columns: int = 64,
    seed: int = 0,
    study_uid: str | None = None,
    series_uid: str | None = None,
    sop_uid: str | None = None,
    patient_id: str = "PAT-1",
    photometric: str = "MONOCHROME2",
    **attributes: object,
) -> Dataset:
    """A 16-bit CR image with full headers and noise pixels (``seed`` makes them differ)."""
    rng = np.random.default_rng(seed)
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.file_meta.MediaStorageSOPClassUID = CR_STORAGE
    ds.SOPClassUID = CR_STORAGE
    ds.SOPInstanceUID = sop_uid or generate_uid()
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    ds.StudyInstanceUID = study_uid or generate_uid()
    ds.SeriesInstanceUID = series_uid or generate_uid()
    ds.PatientID = patient_id
    ds.PatientName = "Test^Patient"
    ds.PatientSex = "F"
    ds.PatientBirthDate = "19600101"
    ds.PatientAge = "066Y"
    ds.AccessionNumber = "ACC1"
    ds.StudyDate = dt.date.today().strftime("%Y%m%d")
    ds.StudyTime = "101500"
    ds.Modality = "CR"
    ds.BodyPartExamined = "CHEST"
    ds.ViewPosition = "PA"
    ds.SeriesNumber = 1
    ds.InstanceNumber = 1
    ds.ReasonForTheRequestedProcedure = "shortness of breath"
    ds.Rows, ds.Columns = rows, columns
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = photometric
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 12, 11, 0
    ds.PixelData = rng.integers(0, 4096, size=(rows, columns), dtype=np.uint16).tobytes()
    for keyword, value in attributes.items():
        setattr(ds, keyword, value)
    return ds


def write(ds: Dataset, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    ds.save_as(path, enforce_file_format=True)
    return path


def dataset_bytes_sha256(path: Path) -> str:
    """SHA-256 of a Part 10 file's dataset bytes (after the File Meta), as the SCP hashes."""
    import hashlib

    from workstation.dicom.part10 import split_part10

    return hashlib.sha256(split_part10(path.read_bytes()).dataset_bytes).hexdigest()
