"""The responses an OHIF viewer (DicomWebDataSource, docker/ohif/app-config.js) relies on."""

from __future__ import annotations

from pathlib import Path

import pydicom
from pydicom.uid import generate_uid
from rest_framework.test import APIClient

from tests.factories import cr_dataset, write
from tests.workstation.dicomweb.conftest import ingest
from workstation.dicomweb.multipart import media_type_parse

# The study list: UID, name, MRN, date, time, accession, description, modalities, counts.
OHIF_STUDY_LIST_TAGS = {
    "0020000D", "00100010", "00100020", "00080020", "00080030", "00080050",
    "00081030", "00080061", "00201206", "00201208",
}  # fmt: skip
# What the viewer needs of each instance to lay out and decode a frame.
OHIF_INSTANCE_TAGS = {
    "00080016", "00080018", "0020000E", "0020000D", "00280010", "00280011", "00280100",
    "00280101", "00280103", "00280004", "00280002",
}  # fmt: skip


def test_it_gives_ohif_its_study_list_metadata_and_frames(api: APIClient, tmp_path: Path) -> None:
    study, series = generate_uid(), generate_uid()
    for number in (1, 2):
        ds = cr_dataset(
            rows=8,
            columns=8,
            study_uid=study,
            series_uid=series,
            InstanceNumber=number,
            seed=number,
            StudyDescription="CHEST PA",
        )
        ingest(write(ds, tmp_path / f"{number}.dcm"))

    # OHIF's study list query: includefield for the counts, limit/offset paging.
    rows = api.get(
        "/dicomweb/studies",
        {"limit": "101", "offset": "0", "fuzzymatching": "false",
         "includefield": "00081030,00080060"},
    ).json()  # fmt: skip
    (row,) = rows
    assert set(row) >= OHIF_STUDY_LIST_TAGS
    assert row["00080061"]["Value"] == ["CR"]
    assert row["00201206"]["Value"] == [1] and row["00201208"]["Value"] == [2]

    (series_row,) = api.get(f"/dicomweb/studies/{study}/series").json()
    assert {"0020000E", "00080060", "00200011", "00201209"} <= set(series_row)

    metadata = api.get(f"/dicomweb/studies/{study}/series/{series}/metadata")
    assert metadata["Content-Type"] == "application/dicom+json"
    instances = metadata.json()
    assert len(instances) == 2
    for instance in instances:
        assert set(instance) >= OHIF_INSTANCE_TAGS
        assert instance["7FE00010"]["BulkDataURI"].endswith("/frames/1")
        pydicom.Dataset.from_json(instance)  # valid DICOM JSON

    # The frame request OHIF's image loader sends.
    sop = instances[0]["00080018"]["Value"][0]
    frame = api.get(
        f"/dicomweb/studies/{study}/series/{series}/instances/{sop}/frames/1",
        HTTP_ACCEPT="multipart/related; type=application/octet-stream; transfer-syntax=*",
    )
    assert frame.status_code == 200
    content_type = media_type_parse(frame["Content-Type"])
    assert content_type.media_type == "multipart/related"
    assert content_type.params["type"] == "application/octet-stream"
    assert b"transfer-syntax=1.2.840.10008.1.2.1" in frame.content


def test_the_documented_ohif_configuration_points_at_the_dicomweb_root() -> None:
    from django.conf import settings
    from django.urls import resolve

    config = (settings.BASE_DIR / "docker" / "ohif" / "app-config.js").read_text()
    assert "qidoRoot: '/dicomweb'" in config and "wadoRoot: '/dicomweb'" in config
    assert resolve("/dicomweb/studies").url_name == "dicomweb-studies"
    nginx = (settings.BASE_DIR / "docker" / "ohif" / "nginx.conf").read_text()
    assert "dicomweb|accounts" in nginx
