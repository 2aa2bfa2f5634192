"""Validation of received datasets (Django-free)."""

from __future__ import annotations

import pytest

from tests.factories import cr_dataset
from workstation.dicom.ingest import (
    IngestRefused,
    StoreStatus,
    fidelity,
    parse_incoming,
    uid_is_conformant,
)


@pytest.mark.parametrize("uid", ["1.2.840.10008.1.2", "0.1", "2.25.123456789"])
def test_it_accepts_conformant_uids(uid: str) -> None:
    assert uid_is_conformant(uid)


@pytest.mark.parametrize(
    "uid", ["../../x", "1.02.3", "1..2", ".1.2", "1.2.", "1.2.a", "1" * 65, "", "1.2/3", "1.2\x00"]
)
def test_it_refuses_non_conformant_uids(uid: str) -> None:
    assert not uid_is_conformant(uid)


def _parse(ds: object, ts: str = "1.2.840.10008.1.2.1") -> object:
    return parse_incoming(
        ds,  # type: ignore[arg-type]
        transfer_syntax_uid=ts,
        affected_sop_class_uid=str(ds.SOPClassUID),  # type: ignore[attr-defined]
        affected_sop_uid=str(ds.SOPInstanceUID),  # type: ignore[attr-defined]
    )


def test_it_reads_the_header_values_the_worklist_needs() -> None:
    incoming = _parse(cr_dataset(PatientAge="066Y", ViewPosition="PA"))

    assert incoming.patient_age_years == 66  # type: ignore[attr-defined]
    assert incoming.view_position == "PA"  # type: ignore[attr-defined]
    assert incoming.indication == "shortness of breath"  # type: ignore[attr-defined]
    assert incoming.is_draftable  # type: ignore[attr-defined]


def test_it_refuses_an_unsupported_transfer_syntax() -> None:
    with pytest.raises(IngestRefused) as refused:
        _parse(cr_dataset(), ts="1.2.840.10008.1.2.4.100")  # MPEG2
    assert refused.value.status == StoreStatus.UNSUPPORTED_TRANSFER_SYNTAX


def test_it_refuses_a_missing_study_uid() -> None:
    ds = cr_dataset()
    del ds.StudyInstanceUID
    with pytest.raises(IngestRefused, match="StudyInstanceUID is missing"):
        _parse(ds)


def test_it_ranks_uncompressed_above_lossy_encodings() -> None:
    assert fidelity("1.2.840.10008.1.2.1", False) > fidelity("1.2.840.10008.1.2.1", True)
    assert fidelity("1.2.840.10008.1.2.1", True) > fidelity("1.2.840.10008.1.2.4.91", True)
