"""reports.deid: DICOM de-identification, report text scrubbing, pseudonyms (no database)."""

from __future__ import annotations

import datetime as dt
import io

import pytest
from pydicom import dcmread
from pydicom.datadict import tag_for_keyword
from pydicom.dataset import Dataset
from pydicom.uid import generate_uid

from reports.deid import (
    BASIC_PROFILE_REMOVE,
    DicomDeidentifier,
    Pseudonyms,
    phi_terms_build,
    phi_terms_from_dataset,
    phi_text_scrub,
)
from reports.deid.text import REDACTED
from reports.training_export import Split, split_for
from tests.factories import cr_dataset

SALT = b"test-salt-0123456789abcdef"
NAME = "Quixote^Zebulon^Ambrose"
MRN = "MRN-7731942"
ACCESSION = "ACX88231"
INSTITUTION = "St Elsewhere General Hospital"
REFERRER = "Pierce^Hawkeye"
BIRTH = "19470312"
STUDY_DATE = "20240115"


def phi_dataset(**attributes: object) -> Dataset:
    """A CR instance with PHI planted in top-level, nested and private elements."""
    planted: dict[str, object] = {
        "PatientName": NAME,
        "PatientBirthDate": BIRTH,
        "AccessionNumber": ACCESSION,
        "InstitutionName": INSTITUTION,
        "InstitutionAddress": "12 Wisteria Lane, Springfield",
        "ReferringPhysicianName": REFERRER,
        "OperatorsName": "Burns^Frank",
        "StudyDate": STUDY_DATE,
        "SeriesDate": STUDY_DATE,
        "StudyDescription": f"CHEST PA {NAME}",
        "ImageComments": f"pt {MRN} acc {ACCESSION}",
        "OtherPatientIDs": "OLD-55501234",
        "BurnedInAnnotation": "NO",
    }
    ds = cr_dataset(**{"patient_id": MRN, **planted, **attributes})  # type: ignore[arg-type]
    request = Dataset()
    request.AccessionNumber = ACCESSION
    request.RequestedProcedureID = "RP-4471120"
    request.ReasonForTheRequestedProcedure = f"cough, {NAME}"
    ds.RequestAttributesSequence = [request]
    referenced = Dataset()
    referenced.ReferencedSOPClassUID = "1.2.840.10008.3.1.2.1.1"
    referenced.ReferencedSOPInstanceUID = generate_uid()
    ds.ReferencedPatientSequence = [referenced]
    # A sequence the profile keeps: its nested identifiers must still be replaced.
    kept = Dataset()
    kept.AccessionNumber = ACCESSION
    kept.PatientName = NAME
    kept.StudyInstanceUID = ds.StudyInstanceUID
    ds.ReferencedRequestSequence = [kept]
    block = ds.private_block(0x0011, "ACME PHI", create=True)
    block.add_new(0x01, "LO", NAME)
    block.add_new(0x02, "LO", MRN)
    return ds


def phi_strings() -> list[str]:
    """Every planted PHI string in the cases and forms a reader could find."""
    base = [
        *NAME.split("^"),
        NAME,
        MRN,
        ACCESSION,
        INSTITUTION,
        *REFERRER.split("^"),
        "OLD-55501234",
        "Wisteria",
        "Burns^Frank",
        BIRTH,
        "1947-03-12",
        STUDY_DATE,
        "2024-01-15",
    ]
    return [form for s in base for form in {s, s.upper(), s.lower()}]


def encoded(ds: Dataset) -> bytes:
    buffer = io.BytesIO()
    ds.save_as(buffer, enforce_file_format=True)
    return buffer.getvalue()


def test_every_basic_profile_keyword_is_a_dicom_keyword() -> None:
    assert [k for k in BASIC_PROFILE_REMOVE if tag_for_keyword(k) is None] == []


def test_it_leaves_no_planted_phi_in_any_element_sequence_or_private_tag() -> None:
    ds = phi_dataset()
    terms = phi_terms_from_dataset(ds)
    deidentifier = DicomDeidentifier(seed="s")

    deidentifier.deidentify(ds, shift_days=100, pseudo_patient_id="10000001")

    data = encoded(ds)
    assert [s for s in phi_strings() if s.encode() in data] == []
    assert DicomDeidentifier.residue(ds, terms=terms) == []
    assert not any(element.tag.is_private for element in ds.iterall())
    assert ds.PatientIdentityRemoved == "YES" and ds.PatientID == "10000001"
    assert ds.ReferencedRequestSequence[0].AccessionNumber != ACCESSION
    assert ds.ReferencedRequestSequence[0].StudyInstanceUID == ds.StudyInstanceUID


def test_it_names_the_profile_and_library_in_the_deidentification_attributes() -> None:
    ds = phi_dataset()

    DicomDeidentifier(seed="s").deidentify(ds, shift_days=100, pseudo_patient_id="1")

    codes = [(item.CodeValue, item.CodingSchemeDesignator) for item in ds[0x0012, 0x0064].value]
    assert ("113100", "DCM") in codes
    methods = list(ds.DeidentificationMethod)
    assert any("Basic Application Level Confidentiality Profile" in m for m in methods)
    assert any(m.startswith("dicognito ") for m in methods)
    reread = dcmread(io.BytesIO(encoded(ds)))
    assert reread.PatientIdentityRemoved == "YES"


def test_it_shifts_one_patients_dates_by_whole_days_and_keeps_the_time_of_day() -> None:
    first = phi_dataset(StudyTime="101500")
    second = phi_dataset(StudyDate="20240301", StudyTime="231000")
    deidentifier = DicomDeidentifier(seed="s")

    for ds in (first, second):
        deidentifier.deidentify(ds, shift_days=123, pseudo_patient_id="1")

    def day(ds: Dataset) -> dt.date:
        return dt.datetime.strptime(ds.StudyDate, "%Y%m%d").date()

    assert day(first) == dt.date(2024, 1, 15) - dt.timedelta(days=123)
    assert (day(second) - day(first)).days == 46
    assert (first.StudyTime, second.StudyTime) == ("101500", "231000")


def test_it_maps_each_uid_to_one_new_uid_across_instances() -> None:
    study, series = generate_uid(), generate_uid()
    one = phi_dataset(study_uid=study, series_uid=series)
    two = phi_dataset(study_uid=study, series_uid=series)
    deidentifier = DicomDeidentifier(seed="s")

    for ds in (one, two):
        deidentifier.deidentify(ds, shift_days=70, pseudo_patient_id="1")

    assert one.SeriesInstanceUID == two.SeriesInstanceUID != series
    assert one.StudyInstanceUID == two.StudyInstanceUID != study
    assert one.SOPInstanceUID != two.SOPInstanceUID
    assert one.file_meta.MediaStorageSOPInstanceUID == one.SOPInstanceUID


def test_it_reports_phi_left_in_an_element_the_profile_keeps() -> None:
    ds = phi_dataset(Manufacturer="Zebulon Imaging")
    terms = phi_terms_from_dataset(ds)

    DicomDeidentifier(seed="s").deidentify(ds, shift_days=70, pseudo_patient_id="1")

    assert DicomDeidentifier.residue(ds, terms=terms) == ["Manufacturer"]


def test_it_scrubs_planted_names_ids_institution_and_dates_from_report_text() -> None:
    terms = phi_terms_build(
        names=[NAME, REFERRER],
        identifiers=[MRN, ACCESSION],
        phrases=[INSTITUTION],
        dates=[dt.date(1947, 3, 12)],
    )
    text = (
        "Zebulon QUIXOTE (MRN 7731942, acc ACX88231) seen at St Elsewhere General Hospital. "
        "Compared with 2024-01-15, 15/01/2024, 15 Jan 2024, January 3rd, 2023 and 20231201. "
        "Discussed with Dr Pierce. A 93-year-old. Small right pleural effusion, 12 mm."
    )

    scrubbed = phi_text_scrub(text, terms=terms)

    for planted in ("Zebulon", "QUIXOTE", "7731942", "ACX88231", "Elsewhere", "Pierce", "93"):
        assert planted not in scrubbed
    for date in ("2024-01-15", "15/01/2024", "15 Jan 2024", "January 3rd, 2023", "20231201"):
        assert date not in scrubbed
    assert scrubbed.count(REDACTED) >= 11
    assert "Small right pleural effusion, 12 mm." in scrubbed
    assert "Discussed with Dr ___." in scrubbed


def test_it_keeps_clinical_words_that_only_look_like_dates() -> None:
    text = "The effusion may be loculated. Mass 2.5 cm, T4/5 level."

    assert phi_text_scrub(text, terms=phi_terms_build()) == text


def test_it_gives_stable_pseudonyms_per_salt_that_do_not_reveal_the_real_id() -> None:
    one, again, other = (
        Pseudonyms(salt=SALT),
        Pseudonyms(salt=SALT),
        Pseudonyms(salt=b"another-salt-0123456789"),
    )

    assert one.subject("\x00" + MRN) == again.subject("\x00" + MRN)
    assert one.subject("\x00" + MRN) != other.subject("\x00" + MRN)
    assert "7731942" not in str(one.subject("\x00" + MRN))
    assert len(str(one.subject("\x00" + MRN))) == 8
    assert one.dicom("1.2.3") == again.dicom("1.2.3") != other.dicom("1.2.3")
    assert 62 <= one.date_shift_days("\x00" + MRN) <= 730
    with pytest.raises(ValueError):
        Pseudonyms(salt=b"short")


def test_it_keeps_subject_ids_unique_even_when_hashes_collide() -> None:
    pseudonyms = Pseudonyms(salt=SALT)

    ids = {pseudonyms.subject(f"patient-{n}") for n in range(20_000)}

    assert len(ids) == 20_000


def test_it_splits_about_90_5_5_by_subject_deterministically() -> None:
    splits = [split_for(subject) for subject in range(10_000_000, 10_010_000)]

    assert splits == [split_for(subject) for subject in range(10_000_000, 10_010_000)]
    share = {split: splits.count(split) / len(splits) for split in Split}
    assert 0.88 < share[Split.TRAIN] < 0.92
    assert 0.04 < share[Split.VALIDATE] < 0.06 and 0.04 < share[Split.TEST] < 0.06
