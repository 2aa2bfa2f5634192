"""The C-STORE/C-ECHO listener over real loopback associations."""

from __future__ import annotations

import time
from pathlib import Path

import pydicom
import pytest
from pydicom.uid import generate_uid
from pynetdicom import AE
from pynetdicom.sop_class import Verification  # type: ignore[attr-defined]

from tests.conftest import LiveScp
from tests.factories import cr_dataset, dataset_bytes_sha256, shared_dicom, write
from workstation.dicom.ingest import StoreStatus
from workstation.dicom.part10 import encode_preamble_and_meta, split_part10
from workstation.dicom.scu import send_files
from workstation.studies.models import Instance, Study

pytestmark = pytest.mark.django_db(transaction=True)


def _send(scp: LiveScp, paths: list[Path], associations: int = 1) -> list[int | None]:
    results = send_files(
        paths,
        host=scp.host,
        port=scp.port,
        called_ae_title=scp.ae_title,
        associations=associations,
    )
    return [r.status for r in results]


def _echo(scp: LiveScp) -> int | None:
    ae = AE(ae_title="ECHO-SCU")
    ae.add_requested_context(Verification)
    ae.acse_timeout = ae.dimse_timeout = ae.network_timeout = 1
    assoc = ae.associate(scp.host, scp.port, ae_title=scp.ae_title)
    assert assoc.is_established
    status = assoc.send_c_echo()
    assoc.release()
    return status.get("Status") if status else None


def _part10_with_body(tmp_path: Path, name: str, body: bytes, sop_uid: str | None = None) -> Path:
    """A file with a valid File Meta group and ``body`` as its dataset bytes."""
    ds = cr_dataset(sop_uid=sop_uid)
    path = write(ds, tmp_path / "template.dcm")
    out = tmp_path / name
    out.write_bytes(encode_preamble_and_meta(ds.file_meta) + body)
    path.unlink()
    return out


def test_it_stores_the_real_chest_files_once_over_parallel_associations_sent_twice(
    live_scp: LiveScp,
) -> None:
    files = shared_dicom()
    statuses = _send(live_scp, files * 2, associations=4)

    assert statuses == [0x0000] * len(files) * 2
    by_uid: dict[str, set[str]] = {}
    for path in files:
        uid = str(pydicom.dcmread(path, stop_before_pixels=True).SOPInstanceUID)
        by_uid.setdefault(uid, set()).add(dataset_bytes_sha256(path))
    # The NEMA RG1 files are the same picture in three encodings; the lossy J2K file and the
    # uncompressed one share a SOP Instance UID, the lossless J2K file has its own (.1.2.
    # instead of .1.3.), so 5 files are 4 instances of 3 studies.
    assert Instance.objects.count() == len(by_uid) == 4
    assert Study.objects.count() == 3
    for instance in Instance.objects.all():
        assert instance.sha256 in by_uid[instance.sop_uid]
        stored = live_scp.storage_dir / instance.storage_path
        assert dataset_bytes_sha256(stored) == instance.sha256


def test_it_keeps_the_uncompressed_copy_when_the_lossy_one_arrives_first(
    live_scp: LiveScp,
) -> None:
    lossy, uncompressed = shared_dicom("nema_RG1_chest_CR_J2KI.dcm", "nema_RG1_chest_CR_UNCI.dcm")

    assert _send(live_scp, [lossy]) == [0x0000]
    assert _send(live_scp, [uncompressed]) == [0x0000]
    assert _send(live_scp, [lossy]) == [0x0000]

    instance = Instance.objects.get()
    assert instance.sha256 == dataset_bytes_sha256(uncompressed)
    assert instance.transfer_syntax_uid == "1.2.840.10008.1.2.1"


def test_it_stores_generated_instances_over_four_associations(
    live_scp: LiveScp, tmp_path: Path
) -> None:
    study_uid = generate_uid()
    paths = [
        write(cr_dataset(rows=512, columns=512, seed=i, study_uid=study_uid), tmp_path / f"{i}.dcm")
        for i in range(200)
    ]
    started = time.perf_counter()
    statuses = _send(live_scp, paths, associations=4)
    elapsed = time.perf_counter() - started

    assert statuses == [0x0000] * 200
    assert Instance.objects.filter(series__study__study_uid=study_uid).count() == 200
    # A figure for the closing note, not an assertion: `pytest -s` shows it.
    print(f"\n200 x 512x512 CR over 4 associations: {200 / elapsed:.1f} instances/s")


@pytest.mark.parametrize(
    ("name", "body", "expected"),
    [
        ("non-dicom", b"this is not DICOM at all, just text" * 10, StoreStatus.CANNOT_UNDERSTAND),
        ("zero-byte", b"", StoreStatus.INVALID_UID),
        ("truncated", None, StoreStatus.CANNOT_UNDERSTAND),
    ],
)
def test_it_refuses_undecodable_datasets_with_a_failure_status(
    live_scp: LiveScp, tmp_path: Path, name: str, body: bytes | None, expected: StoreStatus
) -> None:
    if body is None:
        good = write(cr_dataset(rows=128, columns=128), tmp_path / "good.dcm").read_bytes()
        full = split_part10(good).dataset_bytes
        # Cut inside an element's value: its declared length runs past the end.
        body = full[: len(full) // 3]
    path = _part10_with_body(tmp_path, f"{name}.dcm", body)

    statuses = _send(live_scp, [path])

    assert statuses[0] is not None and statuses[0] != 0x0000
    assert statuses[0] in {
        expected,
        StoreStatus.CANNOT_UNDERSTAND,
        StoreStatus.INVALID_UID,
        StoreStatus.DATASET_DOES_NOT_MATCH_SOP_CLASS,
    }
    assert Instance.objects.count() == 0
    assert _echo(live_scp) == 0x0000


def test_it_refuses_a_uid_that_looks_like_a_path_and_writes_nothing_outside_the_root(
    live_scp: LiveScp, tmp_path: Path
) -> None:
    ds = cr_dataset(StudyInstanceUID="../../x")
    path = write(ds, tmp_path / "evil.dcm")

    assert _send(live_scp, [path]) == [StoreStatus.INVALID_UID]
    assert Instance.objects.count() == 0
    assert not (live_scp.storage_dir.parent / "x").exists()
    assert list(live_scp.storage_dir.rglob("*.dcm")) == []


def test_it_refuses_a_non_conformant_sop_instance_uid(live_scp: LiveScp, tmp_path: Path) -> None:
    path = write(cr_dataset(sop_uid="1.2.03.4"), tmp_path / "bad-uid.dcm")

    assert _send(live_scp, [path]) == [StoreStatus.INVALID_UID]


def test_it_refuses_an_unsupported_sop_class_with_status_0122(live_scp: LiveScp) -> None:
    (seg,) = shared_dicom("extra/highdicom_seg_image_cr_binary.dcm")

    assert _send(live_scp, [seg]) == [0x0122]
    assert Instance.objects.count() == 0


def test_it_keeps_a_structured_report_without_pixel_data(live_scp: LiveScp) -> None:
    (sr,) = shared_dicom("extra/highdicom_sr_document.dcm")

    assert _send(live_scp, [sr]) == [0x0000]  # AI results and reports are kept (issue 11)
    assert Instance.objects.get().rows is None


def test_it_stores_ct_and_mr_without_drafting_them(live_scp: LiveScp) -> None:
    ct, mr = shared_dicom("extra/pydicom_CT_small.dcm", "extra/pydicom_MR_small.dcm")

    assert _send(live_scp, [ct, mr]) == [0x0000, 0x0000]

    from workstation.studies.services import study_complete

    for study in Study.objects.all():
        assert study_complete(study_uid=study.study_uid, reason="explicit") is None
        study.refresh_from_db()
        assert study.status == "not_drafted"


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("extra/txv_Fake_MONOHR1.dcm", 0x0000),
        ("extra/highdicom_dx_image_animal.dcm", 0x0000),
        ("extra/pydicom_dicomdir_CR1_6154.dcm", 0x0000),
        # Its File Meta names another SOP Instance UID than the dataset does.
        ("extra/pydicom_charset_chrJapMulti.dcm", StoreStatus.DATASET_DOES_NOT_MATCH_SOP_CLASS),
        # A CR "image" without Pixel Data.
        ("extra/pydicom_charset_chrKoreanMulti.dcm", StoreStatus.DATASET_DOES_NOT_MATCH_SOP_CLASS),
    ],
)
def test_it_answers_each_real_edge_case_file_by_its_nature(
    live_scp: LiveScp, name: str, expected: int
) -> None:
    assert _send(live_scp, shared_dicom(name)) == [expected]
    assert Instance.objects.count() == (1 if expected == 0 else 0)
    assert _echo(live_scp) == 0x0000


def test_it_keeps_non_latin_patient_names(live_scp: LiveScp, tmp_path: Path) -> None:
    ds = cr_dataset(SpecificCharacterSet="ISO_IR 192", PatientName="山田^太郎")
    path = write(ds, tmp_path / "jp.dcm")

    assert _send(live_scp, [path]) == [0x0000]
    assert Study.objects.get().patient.name == "山田^太郎"


def test_it_refuses_a_dataset_whose_sop_class_differs_from_the_request(
    live_scp: LiveScp, tmp_path: Path
) -> None:
    sop_uid = generate_uid()
    dx = cr_dataset(sop_uid=sop_uid, SOPClassUID="1.2.840.10008.5.1.4.1.1.1.1")
    body = split_part10(write(dx, tmp_path / "dx.dcm").read_bytes()).dataset_bytes
    # The File Meta (and so the C-STORE request) says CR; the dataset says DX.
    path = _part10_with_body(tmp_path, "mismatch.dcm", body, sop_uid=sop_uid)

    assert _send(live_scp, [path]) == [StoreStatus.DATASET_DOES_NOT_MATCH_SOP_CLASS]


def test_it_refuses_an_instance_uid_already_stored_for_another_study(
    live_scp: LiveScp, tmp_path: Path
) -> None:
    uid = generate_uid()
    first = write(cr_dataset(sop_uid=uid, seed=1), tmp_path / "a.dcm")
    second = write(cr_dataset(sop_uid=uid, seed=2), tmp_path / "b.dcm")

    assert _send(live_scp, [first, second]) == [0x0000, StoreStatus.CONFLICTING_INSTANCE]
    assert Instance.objects.count() == 1


def test_it_rejects_calling_ae_titles_outside_the_allow_list(
    transactional_db: None, storage_dir: Path, tmp_path: Path
) -> None:
    from tests.conftest import free_port
    from workstation.dicom.scp import ScpConfig, start_scp

    port = free_port()
    config = ScpConfig.from_settings(
        host="127.0.0.1",
        port=port,
        storage_dir=storage_dir,
        allowed_calling_ae_titles=("MODALITY1",),
    )
    server = start_scp(config, block=False)
    assert server is not None
    try:
        path = write(cr_dataset(), tmp_path / "x.dcm")
        refused = send_files([path], host="127.0.0.1", port=port, calling_ae_title="STRANGER")
        allowed = send_files([path], host="127.0.0.1", port=port, calling_ae_title="MODALITY1")
    finally:
        server.shutdown()

    assert refused[0].status is None and "not established" in refused[0].error
    assert allowed[0].status == 0x0000
