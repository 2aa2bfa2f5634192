"""reports.services.training_data_export and ``manage.py export_training_data``."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
from pathlib import Path

import pytest
from django.core.management import call_command
from django.utils import timezone
from PIL import Image
from pydicom import dcmread
from pydicom.dataset import Dataset
from pydicom.uid import generate_uid

from inference.labeller import label_report
from reports import services
from reports.deid import Pseudonyms
from reports.models import Report, ReportMetrics
from reports.services.training_export import TrainingExportError, training_data_export
from reports.training_export import (
    CHEXPERT_COLUMNS,
    CHEXPERT_CSV,
    EDITS_JSONL,
    HELD_BACK_CSV,
    MENTION_VALUES,
    METADATA_CSV,
    SPLIT_CSV,
)
from tests.conftest import PASSWORD
from tests.factories import cr_dataset
from tests.reports.factories import draft_make
from tests.reports.test_deid import ACCESSION, MRN, SALT, phi_dataset, phi_strings
from workstation.dicom.part10 import encode_preamble_and_meta, split_part10
from workstation.studies.models import Study
from workstation.studies.services import instance_ingest

pytestmark = pytest.mark.django_db

PHI_FINDINGS = (
    "Patient Zebulon Quixote (MRN-7731942, accession ACX88231) at St Elsewhere General "
    "Hospital, compared with 15 Jan 2024 and 2024-01-15. Discussed with Dr Pierce. "
    "Small right pleural effusion. No pneumothorax. Possible left basal atelectasis."
)


def ingest(ds: Dataset, storage_dir: Path) -> Study:
    """Store one instance through the SCP's own service."""
    buffer = io.BytesIO()
    ds.save_as(buffer, enforce_file_format=True)
    part10 = split_part10(buffer.getvalue())
    instance_ingest(
        dataset=dcmread(io.BytesIO(buffer.getvalue())),
        dataset_bytes=part10.dataset_bytes,
        preamble_and_meta=encode_preamble_and_meta(part10.file_meta),
        transfer_syntax_uid=str(part10.file_meta.TransferSyntaxUID),
        affected_sop_class_uid=str(ds.SOPClassUID),
        affected_sop_uid=str(ds.SOPInstanceUID),
        source="TESTSCU",
        storage_dir=storage_dir,
    )
    return Study.objects.get(study_uid=ds.StudyInstanceUID)


def sign(study: Study, reader: object, findings: str = PHI_FINDINGS) -> Report:
    draft = draft_make(study=study, findings=findings)
    report = Report.objects.get(pk=draft.report_id)
    services.report_sign(report=report, user=reader, password=PASSWORD, based_on_version=0)  # type: ignore[arg-type]
    return report


def rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def export(tmp_path: Path) -> Path:
    out = tmp_path / "export"
    training_data_export(out_dir=out, salt=SALT, operator="test")
    return out


def test_it_writes_no_original_phi_into_any_exported_file(
    reader: object, storage_dir: Path, tmp_path: Path
) -> None:
    study = ingest(phi_dataset(), storage_dir)
    sign(study, reader)

    out = export(tmp_path)

    files = [p for p in out.rglob("*") if p.is_file()]
    assert {p.suffix for p in files} >= {".dcm", ".jpg", ".csv", ".txt", ".jsonl"}
    found = [
        (path.relative_to(out).as_posix(), phi)
        for path in files
        for phi in phi_strings()
        if phi.encode() in path.read_bytes()
    ]
    assert found == []
    assert rows(out / HELD_BACK_CSV) == []
    (jpeg,) = out.rglob("*.jpg")
    with Image.open(jpeg) as image:
        assert (image.format, image.mode, image.size) == ("JPEG", "L", (64, 64))
        assert not image.getexif() and "comment" not in image.info


def test_it_scrubs_the_report_and_edits_text_and_keeps_the_findings(
    reader: object, storage_dir: Path, tmp_path: Path
) -> None:
    study = ingest(phi_dataset(), storage_dir)
    sign(study, reader)

    out = export(tmp_path)

    (report_file,) = (out / "reports" / "files").rglob("s*.txt")
    text = report_file.read_text()
    assert text.startswith("FINAL REPORT")
    for planted in ("Zebulon", "Quixote", MRN, ACCESSION, "Elsewhere", "Pierce", "Jan 2024"):
        assert planted not in text
    assert "Small right pleural effusion." in text and "___" in text
    (line,) = (out / EDITS_JSONL).read_text().splitlines()
    edits = json.loads(line)
    assert "Zebulon" not in edits["ai_draft"] and "Zebulon" not in edits["signed"]
    assert edits["model_version"] == "demo-1.0"
    stored = ReportMetrics.objects.get(report__study=study)
    assert edits["metrics"]["char_distance"] == stored.char_distance == 0.0
    assert edits["metrics"]["signed_labels"] == stored.signed_labels != []
    assert {d["label"]: d["decision"] for d in edits["decisions"]} == {
        "Cardiomegaly": "proposed",
        "Pleural Effusion": "proposed",
    }


def test_it_shifts_one_patients_dates_consistently_and_maps_uids_per_series(
    reader: object, storage_dir: Path, tmp_path: Path
) -> None:
    first_study, series = generate_uid(), generate_uid()
    for n in (1, 2):
        ingest(
            cr_dataset(
                study_uid=first_study,
                series_uid=series,
                patient_id=MRN,
                seed=n,
                BurnedInAnnotation="NO",
                StudyDate="20240115",
                InstanceNumber=n,
            ),
            storage_dir,
        )
    second = ingest(
        cr_dataset(patient_id=MRN, StudyDate="20240301", BurnedInAnnotation="NO"), storage_dir
    )
    sign(Study.objects.get(study_uid=first_study), reader)
    sign(second, reader)

    out = export(tmp_path)

    by_study: dict[str, list[Dataset]] = {}
    for path in (out / "files").rglob("*.dcm"):
        by_study.setdefault(path.parent.name, []).append(dcmread(path))
    pair, single = sorted(by_study.values(), key=len, reverse=True)
    assert (len(pair), len(single)) == (2, 1)
    assert pair[0].SeriesInstanceUID == pair[1].SeriesInstanceUID != series
    assert pair[0].StudyInstanceUID == pair[1].StudyInstanceUID != first_study
    shifted = [dt.datetime.strptime(ds.StudyDate, "%Y%m%d").date() for ds in (pair[0], single[0])]
    assert (shifted[1] - shifted[0]).days == 46
    assert shifted[0] != dt.date(2024, 1, 15)
    assert len({ds.PatientID for ds in (*pair, *single)}) == 1
    splits = rows(out / SPLIT_CSV)
    assert len(splits) == 3 and len({r["split"] for r in splits}) == 1
    assert len({r["subject_id"] for r in splits}) == 1
    metadata = rows(out / METADATA_CSV)
    assert sorted(r["StudyDate"] for r in metadata) == sorted(
        ds.StudyDate for ds in (*pair, *single)
    )


@pytest.mark.parametrize(("burned_in", "exported"), [("NO", True), ("YES", False), (None, False)])
def test_it_holds_back_instances_unless_burned_in_annotation_is_no(
    reader: object, storage_dir: Path, tmp_path: Path, burned_in: str | None, exported: bool
) -> None:
    ds = cr_dataset(patient_id=MRN)
    if burned_in is not None:
        ds.BurnedInAnnotation = burned_in
    sign(ingest(ds, storage_dir), reader)

    out = export(tmp_path)

    dicom_id = Pseudonyms(salt=SALT).dicom(ds.SOPInstanceUID)
    assert (next(out.rglob(f"{dicom_id}.dcm"), None) is not None) is exported
    assert (next(out.rglob(f"{dicom_id}.jpg"), None) is not None) is exported
    held = rows(out / HELD_BACK_CSV)
    if exported:
        assert held == []
    else:
        assert [r["dicom_id"] for r in held] == [dicom_id]
        assert f"BurnedInAnnotation is {burned_in or 'absent'}" in held[0]["reason"]
        assert rows(out / CHEXPERT_CSV) == []


def test_it_exports_only_signed_reports_with_the_labellers_values(
    reader: object, storage_dir: Path, tmp_path: Path
) -> None:
    signed_study = ingest(cr_dataset(patient_id="A-1", BurnedInAnnotation="NO"), storage_dir)
    draft_only = ingest(cr_dataset(patient_id="B-2", BurnedInAnnotation="NO"), storage_dir)
    sign(signed_study, reader)
    draft_make(study=draft_only)

    out = export(tmp_path)

    (row,) = rows(out / CHEXPERT_CSV)
    pseudonyms = Pseudonyms(salt=SALT)
    assert row["study_id"] == str(pseudonyms.study(signed_study.study_uid))
    assert row["Pleural Effusion"] == "1.0"
    assert row["Pneumothorax"] == "0.0"
    assert row["Atelectasis"] == "-1.0"
    assert row["Edema"] == ""
    signed_text = Report.objects.get(study=signed_study).versions.get(number=1).text
    labels = label_report(signed_text)
    assert {label.value: row[label.value] for label in CHEXPERT_COLUMNS} == {
        label.value: MENTION_VALUES[labels[label]] if label in labels else ""
        for label in CHEXPERT_COLUMNS
    }
    assert len(rows(out / SPLIT_CSV)) == 1
    assert len((out / EDITS_JSONL).read_text().splitlines()) == 1


def test_the_command_exports_reports_signed_in_the_date_window(
    reader: object, storage_dir: Path, tmp_path: Path
) -> None:
    sign(ingest(cr_dataset(BurnedInAnnotation="NO"), storage_dir), reader)
    today = timezone.localdate()
    later, now = tmp_path / "later", tmp_path / "now"

    call_command(
        "export_training_data", "--out", str(later), "--since", str(today + dt.timedelta(days=1))
    )
    call_command(
        "export_training_data", "--out", str(now), "--since", str(today), "--until", str(today)
    )

    assert rows(later / SPLIT_CSV) == [] and len(rows(now / SPLIT_CSV)) == 1
    with pytest.raises(TrainingExportError):
        training_data_export(out_dir=now)
    assert not list(tmp_path.glob(".*partial*"))


def test_it_holds_back_a_study_whose_report_was_corrected_after_signing(
    reader: object, storage_dir: Path, tmp_path: Path
) -> None:
    report = sign(ingest(cr_dataset(BurnedInAnnotation="NO"), storage_dir), reader)
    services.report_addendum_add(
        report=report,
        author=reader,  # type: ignore[arg-type]
        text="Correction: the effusion is on the left.",
        is_correction=True,
    )

    out = export(tmp_path)

    assert rows(out / SPLIT_CSV) == []
    assert [r["reason"] for r in rows(out / HELD_BACK_CSV)] == [
        "the report was corrected after signing"
    ]
