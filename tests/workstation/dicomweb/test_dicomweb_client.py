"""The maintained ``dicomweb-client`` package stores, searches and retrieves the real chest
radiographs of ../shared/data/dicom through the project's DICOMweb endpoints (live server)."""

from __future__ import annotations

import io

import numpy as np
import pydicom
import pytest
from PIL import Image

from tests.factories import shared_dicom
from workstation.audit.models import AuditEvent
from workstation.studies.models import Instance

# The NEMA chest: its JPEG 2000 lossy and uncompressed files share this SOP Instance UID (the
# uncompressed copy, of once-lossy pixels, outranks the lossy one); the lossless file has its own.
NEMA_SHARED_UID = "1.3.6.1.4.1.5962.1.1.9.1.3.20040826185059.5457"
NEMA_LOSSLESS_UID = "1.3.6.1.4.1.5962.1.1.9.1.2.20040826185059.5457"


def _datasets() -> list[pydicom.Dataset]:
    return [pydicom.dcmread(path) for path in shared_dicom()]


@pytest.mark.slow
def test_it_stores_searches_and_retrieves_the_real_chest_dicoms(dicomweb_client: object) -> None:
    client = dicomweb_client
    datasets = _datasets()
    stored = client.store_instances(datasets)  # type: ignore[attr-defined]
    assert len(stored.ReferencedSOPSequence) == len(datasets)
    assert "FailedSOPSequence" not in stored
    assert Instance.objects.count() == 4
    kept = Instance.objects.get(sop_uid=NEMA_SHARED_UID)
    assert kept.transfer_syntax_uid == "1.2.840.10008.1.2.1"

    studies = client.search_for_studies()  # type: ignore[attr-defined]
    assert len(studies) == 3
    found = client.search_for_studies(search_filters={"PatientID": "9RG1"})  # type: ignore[attr-defined]
    (study,) = found
    study_uid = study["0020000D"]["Value"][0]
    assert study["00100010"]["Value"][0]["Alphabetic"] == "CompressedSamples^RG1"
    assert study["00201208"]["Value"] == [2]
    (series,) = client.search_for_series(study_uid)  # type: ignore[attr-defined]
    series_uid = series["0020000E"]["Value"][0]
    instances = client.search_for_instances(study_uid, series_uid)  # type: ignore[attr-defined]
    assert {i["00080018"]["Value"][0] for i in instances} == {NEMA_SHARED_UID, NEMA_LOSSLESS_UID}
    sop_uid = NEMA_LOSSLESS_UID

    # dicomweb-client asks for transfer-syntax=* by default: the stored bytes as they are.
    as_stored = client.retrieve_instance(study_uid, series_uid, sop_uid)  # type: ignore[attr-defined]
    assert as_stored.file_meta.TransferSyntaxUID == "1.2.840.10008.1.2.4.90"
    original = pydicom.dcmread(shared_dicom("nema_RG1_chest_CR_J2KR.dcm")[0])
    # Explicit VR Little Endian on request: decoded from the stored JPEG 2000, pixels intact.
    transcoded = client.retrieve_instance(  # type: ignore[attr-defined]
        study_uid, series_uid, sop_uid, media_types=(("application/dicom", "1.2.840.10008.1.2.1"),)
    )
    assert transcoded.file_meta.TransferSyntaxUID == pydicom.uid.ExplicitVRLittleEndian
    assert np.array_equal(transcoded.pixel_array, original.pixel_array)

    metadata = client.retrieve_instance_metadata(study_uid, series_uid, sop_uid)  # type: ignore[attr-defined]
    assert metadata["00280010"]["Value"] == [original.Rows]
    assert metadata["7FE00010"]["BulkDataURI"].endswith(f"/instances/{sop_uid}/frames/1")

    (frame,) = client.retrieve_instance_frames(study_uid, series_uid, sop_uid, frame_numbers=[1])  # type: ignore[attr-defined]
    pixels = np.frombuffer(frame, dtype="<u2").reshape(original.Rows, original.Columns)
    assert np.array_equal(pixels, original.pixel_array)

    rendered = client.retrieve_instance_rendered(  # type: ignore[attr-defined]
        study_uid, series_uid, sop_uid, media_types=("image/png",)
    )
    assert Image.open(io.BytesIO(rendered)).size == (original.Columns, original.Rows)

    whole_study = client.retrieve_study(study_uid)  # type: ignore[attr-defined]
    assert {ds.SOPInstanceUID for ds in whole_study} == {NEMA_SHARED_UID, NEMA_LOSSLESS_UID}
    actions = set(AuditEvent.objects.values_list("object_type", flat=True))
    assert {"stow", "qido", "wado_instances", "wado_metadata", "wado_frames"} <= actions


@pytest.mark.slow
def test_it_serves_the_siim_jpeg_frame_as_stored_when_asked(dicomweb_client: object) -> None:
    client = dicomweb_client
    (path,) = shared_dicom("siim_1.2.276.0.7230010.3.1.4.8323329.6904.1517875201.850819.dcm")
    ds = pydicom.dcmread(path)
    client.store_instances([ds])  # type: ignore[attr-defined]
    (frame,) = client.retrieve_instance_frames(  # type: ignore[attr-defined]
        ds.StudyInstanceUID,
        ds.SeriesInstanceUID,
        ds.SOPInstanceUID,
        frame_numbers=[1],
        media_types=(("image/jpeg", "1.2.840.10008.1.2.4.50"),),
    )
    assert frame[:2] == b"\xff\xd8"  # the JPEG stream as received, not re-encoded
    decoded = np.asarray(Image.open(io.BytesIO(frame)))
    assert decoded.shape == (ds.Rows, ds.Columns)
