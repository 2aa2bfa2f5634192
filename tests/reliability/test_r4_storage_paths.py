"""R4: storage paths never come from DICOM values. Hostile UIDs and path-like header values
sent over C-STORE and the upload endpoint leave 0 files outside the storage root."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from rest_framework.test import APIClient

from tests.conftest import LiveScp
from tests.factories import cr_dataset, write
from workstation.dicom.ingest import StoreStatus
from workstation.dicom.scu import send_files
from workstation.studies.models import Instance

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

HOSTILE_UIDS = (
    "../../x",
    "../../../../tmp/radws-r4",
    "/tmp/radws-r4-absolute",
    "1.2.3/../../x",
    "1.2.3\\..\\..\\x",
    "1." + "2" * 63,  # 65 characters
    "1.2." + "3" * 70,
    "abc.def",
    "1.2.03.4",  # a leading zero
    "1.2.3.",
    ".1.2.3",
    "1..2",
    "~root",
    "C:\\Windows\\x",
)
UID_KEYWORDS = ("SOPInstanceUID", "StudyInstanceUID", "SeriesInstanceUID")
# Values a path builder might have used, in elements that are legitimately free text.
PATH_LIKE_TEXT = {
    "PatientID": "../../etc/passwd",
    "PatientName": "/tmp/radws-r4^..",
    "AccessionNumber": "..\\..\\x",
    "StudyDescription": "../" * 20 + "x",
}
STORED_NAME = re.compile(r"[0-9a-f]{2}/[0-9a-f]{2}/[0-9a-f]{64}\.dcm")


def _tree(root: Path) -> set[Path]:
    return {p for p in root.rglob("*") if p.is_file()}


def _hostile_files(directory: Path) -> list[Path]:
    paths = []
    for keyword in UID_KEYWORDS:
        for number, uid in enumerate(HOSTILE_UIDS):
            ds = cr_dataset(**{keyword: uid}) if keyword != "SOPInstanceUID" else cr_dataset()
            if keyword == "SOPInstanceUID":
                ds.SOPInstanceUID = uid
                ds.file_meta.MediaStorageSOPInstanceUID = uid
            paths.append(write(ds, directory / f"{keyword}-{number}.dcm"))
    return paths


def test_hostile_uids_over_c_store_and_upload_write_nothing_outside_the_root(
    live_scp: LiveScp, reader: object, tmp_path: Path
) -> None:
    outside_before = _tree(tmp_path) - _tree(live_scp.storage_dir)
    files = _hostile_files(tmp_path / "hostile")
    results = send_files(
        files, host=live_scp.host, port=live_scp.port, called_ae_title=live_scp.ae_title
    )
    client = APIClient()
    client.force_authenticate(reader)
    uploads = [
        client.post(
            "/api/v1/instances", path.read_bytes(), content_type="application/dicom"
        ).status_code
        for path in files
    ]

    stored = [r for r in results if r.status == StoreStatus.SUCCESS]
    # A sender may refuse to put a non-UID on the wire itself; that is no answer, not success.
    assert stored == []
    assert all(r.status in (StoreStatus.INVALID_UID, None) for r in results), results
    assert all(400 <= code < 500 for code in uploads), uploads
    assert Instance.objects.count() == 0
    outside_after = _tree(tmp_path) - _tree(live_scp.storage_dir)
    new_outside = outside_after - outside_before - set(files)
    assert new_outside == set()
    assert not Path("/tmp/radws-r4").exists() and not Path("/tmp/radws-r4-absolute").exists()


def test_path_like_header_text_is_stored_only_under_its_content_hash(
    live_scp: LiveScp, reader: object, tmp_path: Path
) -> None:
    files = [
        write(cr_dataset(seed=i, **{keyword: value}), tmp_path / "src" / f"{i}.dcm")
        for i, (keyword, value) in enumerate(PATH_LIKE_TEXT.items())
    ]
    statuses = [
        r.status
        for r in send_files(
            files, host=live_scp.host, port=live_scp.port, called_ae_title=live_scp.ae_title
        )
    ]

    assert statuses == [0x0000] * len(files)
    stored = _tree(live_scp.storage_dir)
    names = [str(p.relative_to(live_scp.storage_dir)) for p in stored]
    assert len(names) == len(files)
    assert [n for n in names if not STORED_NAME.fullmatch(n)] == []
    assert {i.storage_path for i in Instance.objects.all()} == set(names)
