"""Synthetic chest films stored as DICOM for studies of the known history (drift, shadow)."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np

from tests.factories import cr_dataset
from tests.inference.models.synthetic import chest
from workstation.studies.models import Instance, Series, Study


def film(rng: np.random.Generator, *, exposure: float) -> np.ndarray:
    """A synthetic chest film as 12-bit values; ``exposure`` != 1 bends the tone curve
    (gamma) and adds quantum noise, as a different exposure setting would."""
    image = chest(rng) ** exposure
    if exposure != 1.0:
        image = np.clip(image + 0.08 * rng.standard_normal(image.shape), 0, 1)
    return (image * 4095).astype(np.uint16)


def store_film(study: Study, pixels: np.ndarray, storage_dir: Path) -> None:
    ds = cr_dataset(rows=pixels.shape[0], columns=pixels.shape[1], study_uid=study.study_uid)
    ds.PixelData = pixels.tobytes()
    digest = hashlib.sha256(pixels.tobytes()).hexdigest()
    relative = f"{digest[:2]}/{digest}.dcm"
    (storage_dir / digest[:2]).mkdir(exist_ok=True)
    ds.save_as(storage_dir / relative, enforce_file_format=True)
    series = Series.objects.create(series_uid=ds.SeriesInstanceUID, study=study, modality="CR")
    Instance.objects.create(
        sop_uid=ds.SOPInstanceUID,
        series=series,
        sop_class_uid=ds.SOPClassUID,
        transfer_syntax_uid=str(ds.file_meta.TransferSyntaxUID),
        view_position="PA",
        sha256=digest,
        storage_path=relative,
        size_bytes=len(pixels.tobytes()),
    )
