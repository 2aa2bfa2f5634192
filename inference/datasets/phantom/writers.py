"""Phantom -> DICOM (CR or DX for presentation) and PNG. Imports no Django.

UIDs come from :func:`pydicom.uid.generate_uid` with entropy from the spec, so one spec always
gives the same study, series and instance UIDs and two specs never share them.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Literal

import numpy as np
from PIL import Image
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import (
    PYDICOM_IMPLEMENTATION_UID,
    UID,
    ExplicitVRLittleEndian,
    generate_uid,
)

from inference.datasets.phantom.spec import Phantom, Photometric

CR_IMAGE_STORAGE = "1.2.840.10008.5.1.4.1.1.1"
DX_FOR_PRESENTATION = "1.2.840.10008.5.1.4.1.1.1.1"
SYNTHETIC_NOTICE = "Synthetic phantom, not a patient; not for clinical use"


def _uid(phantom: Phantom, what: str) -> UID:
    return generate_uid(entropy_srcs=["radiology-workstation phantom", repr(phantom.spec), what])


def _study_datetime(seed: int) -> dt.datetime:
    start = dt.datetime(2024, 1, 1, 7, 0, 0)
    return start + dt.timedelta(days=seed % 730, minutes=(seed * 37) % 720, seconds=seed % 60)


def to_dicom(
    phantom: Phantom,
    *,
    modality: Literal["CR", "DX"] = "CR",
    view_position: Literal["PA", "AP"] = "PA",
    study_datetime: dt.datetime | None = None,
) -> Dataset:
    """A complete single-frame DICOM instance of ``phantom`` (explicit VR little endian).

    CR uses CR Image Storage; DX uses Digital X-Ray Image Storage - For Presentation. Pixels
    are :attr:`Phantom.image` as stored (MONOCHROME1 already inverted). The instance's
    date and time default to a value derived from the seed.
    """
    spec = phantom.spec
    when = study_datetime or _study_datetime(spec.seed)
    sop_class = UID(CR_IMAGE_STORAGE if modality == "CR" else DX_FOR_PRESENTATION)
    sop_instance = _uid(phantom, "instance")

    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = sop_class
    meta.MediaStorageSOPInstanceUID = sop_instance
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    meta.ImplementationClassUID = PYDICOM_IMPLEMENTATION_UID
    meta.ImplementationVersionName = "RADWS_PHANTOM"

    ds = Dataset()
    ds.file_meta = meta
    ds.SpecificCharacterSet = "ISO_IR 100"
    ds.ImageType = ["DERIVED", "PRIMARY"]
    ds.SOPClassUID = sop_class
    ds.SOPInstanceUID = sop_instance
    ds.StudyDate = ds.SeriesDate = ds.ContentDate = ds.AcquisitionDate = when.strftime("%Y%m%d")
    ds.StudyTime = ds.SeriesTime = ds.ContentTime = ds.AcquisitionTime = when.strftime("%H%M%S")
    ds.AccessionNumber = f"PH{spec.seed:010d}"[-16:]
    ds.Modality = modality
    ds.Manufacturer = "radiology-workstation"
    ds.ManufacturerModelName = "procedural chest phantom"
    ds.InstitutionName = "Phantom Hospital"
    ds.ReferringPhysicianName = "PHANTOM^REFERRER"
    ds.StudyDescription = f"XR CHEST {view_position}"
    ds.SeriesDescription = f"Chest {view_position} (synthetic phantom)"
    ds.ImageComments = SYNTHETIC_NOTICE

    context = phantom.context
    ds.PatientName = f"PHANTOM^{spec.seed}"
    ds.PatientID = f"PH{spec.seed:08d}"
    # Day 28 at most: a study on 29 February has no anniversary in most birth years.
    anniversary = dt.date(when.year - context.age, when.month, min(when.day, 28))
    birth = anniversary - dt.timedelta(days=spec.seed % 300)
    ds.PatientBirthDate = birth.strftime("%Y%m%d")
    ds.PatientSex = context.sex
    ds.PatientAge = f"{context.age:03d}Y"
    ds.ReasonForTheRequestedProcedure = context.indication
    ds.AdditionalPatientHistory = context.indication

    ds.StudyInstanceUID = _uid(phantom, "study")
    ds.SeriesInstanceUID = _uid(phantom, "series")
    ds.FrameOfReferenceUID = _uid(phantom, "frame")
    ds.StudyID = "1"
    ds.SeriesNumber = 1
    ds.InstanceNumber = 1
    ds.BodyPartExamined = "CHEST"
    ds.ViewPosition = view_position
    ds.PatientOrientation = ["L", "F"]  # columns toward the patient's left, rows toward feet
    ds.BurnedInAnnotation = "NO"
    ds.LossyImageCompression = "00"

    rows, cols = phantom.image.shape
    top = (1 << spec.bits_stored) - 1
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = str(spec.photometric)
    ds.Rows, ds.Columns = rows, cols
    ds.BitsAllocated = 16
    ds.BitsStored = spec.bits_stored
    ds.HighBit = spec.bits_stored - 1
    ds.PixelRepresentation = 0
    ds.PixelSpacing = [f"{s:.6f}" for s in phantom.pixel_spacing_mm]
    ds.ImagerPixelSpacing = ds.PixelSpacing
    ds.RescaleIntercept = "0"
    ds.RescaleSlope = "1"
    ds.RescaleType = "US"
    ds.WindowCenter = f"{(top + 1) / 2:g}"
    ds.WindowWidth = f"{top + 1:g}"
    ds.VOILUTFunction = "LINEAR"
    if modality == "DX":
        ds.PresentationIntentType = "FOR PRESENTATION"
        ds.PixelIntensityRelationship = "LOG"
        ds.PixelIntensityRelationshipSign = 1 if spec.photometric == Photometric.MONOCHROME2 else -1
        ds.DetectorType = "SCINTILLATOR"
    else:
        ds.PresentationLUTShape = (
            "IDENTITY" if spec.photometric == Photometric.MONOCHROME2 else "INVERSE"
        )
    ds.PixelData = np.ascontiguousarray(phantom.image, dtype="<u2").tobytes()
    return ds


def write_dicom(
    phantom: Phantom,
    path: Path | str,
    *,
    modality: Literal["CR", "DX"] = "CR",
    view_position: Literal["PA", "AP"] = "PA",
    study_datetime: dt.datetime | None = None,
) -> Path:
    """Write ``phantom`` as a DICOM Part 10 file; keyword options as for :func:`to_dicom`."""
    target = Path(path)
    ds = to_dicom(
        phantom, modality=modality, view_position=view_position, study_datetime=study_datetime
    )
    ds.save_as(target, enforce_file_format=True)
    return target


def to_png(phantom: Phantom, path: Path | str, *, bits: Literal[8, 16] = 8) -> Path:
    """Write the picture as displayed (MONOCHROME2, bright = dense) as a grayscale PNG.

    ``bits`` 8 keeps the top 8 of the stored bits; 16 scales to the full 16-bit range.
    """
    target = Path(path)
    shown = phantom.display().astype(np.uint32)
    shift = phantom.spec.bits_stored - 8
    if bits == 8:
        Image.fromarray((shown >> shift).astype(np.uint8), mode="L").save(target)
    else:
        scaled = (shown << (16 - phantom.spec.bits_stored)).astype(np.uint16)
        Image.fromarray(scaled, mode="I;16").save(target)
    return target
