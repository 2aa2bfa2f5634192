"""MIMIC-CXR-JPG loader on small fixtures written in PhysioNet's exact layout."""

from __future__ import annotations

import csv
import gzip
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from inference.datasets.mimic import LABEL_COLUMNS, load_mimic, report_sections
from inference.datasets.records import DatasetError, UncertainPolicy
from inference.labels import LABELS, Label, Mention

REPORT = """                                 FINAL REPORT
 EXAMINATION:  CHEST (PA AND LAT)

 INDICATION:  ___F with new onset ascites  // eval for infection

 FINDINGS:
 There is a small left pleural effusion.  The heart size is normal.
 No pneumothorax.

 IMPRESSION:
 Small left pleural effusion.
"""

# dicom_id, subject, study, split, view, labels {column: value}
IMAGES = [
    ("aaa-1", "10000032", "50414267", "train", "PA", {"Pleural Effusion": "1.0"}),
    ("aaa-2", "10000032", "50414267", "train", "LATERAL", {"Pleural Effusion": "1.0"}),
    ("bbb-1", "10000764", "57375967", "test", "AP", {"Pneumothorax": "-1.0", "Edema": "0.0"}),
    ("ccc-1", "11000011", "51234567", "validate", "PA", {"No Finding": "1.0"}),
]


def write_csv(path: Path, header: list[str], rows: list[list[str]]) -> None:
    with gzip.open(path, "wt", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)


def write_mimic(root: Path, images: list[tuple] = IMAGES) -> Path:
    """A MIMIC-CXR-JPG folder with ``images`` (see ``IMAGES``), reports and patients."""
    write_csv(
        root / "mimic-cxr-2.0.0-split.csv.gz",
        ["dicom_id", "study_id", "subject_id", "split"],
        [[d, study, subject, split] for d, subject, study, split, _, _ in images],
    )
    write_csv(
        root / "mimic-cxr-2.0.0-metadata.csv.gz",
        ["dicom_id", "subject_id", "study_id", "ViewPosition", "Rows", "Columns"],
        [[d, subject, study, view, "80", "64"] for d, subject, study, _, view, _ in images],
    )
    studies = {(subject, study): labels for _, subject, study, _, _, labels in images}
    write_csv(
        root / "mimic-cxr-2.0.0-chexpert.csv.gz",
        ["subject_id", "study_id", *LABEL_COLUMNS],
        [
            [subject, study, *(labels.get(c, "") for c in LABEL_COLUMNS)]
            for (subject, study), labels in studies.items()
        ],
    )
    write_csv(
        root / "patients.csv.gz",
        ["subject_id", "gender", "anchor_age", "anchor_year"],
        [["10000032", "F", "52", "2180"], ["10000764", "M", "76", "2132"]],
    )
    rng = np.random.default_rng(0)
    for dicom_id, subject, study, _, _, _ in images:
        folder = root / "files" / f"p{subject[:2]}" / f"p{subject}" / f"s{study}"
        folder.mkdir(parents=True, exist_ok=True)
        pixels = rng.integers(0, 255, (80, 64), dtype=np.uint8)
        Image.fromarray(pixels).save(folder / f"{dicom_id}.jpg")
        folder.with_suffix(".txt").write_text(REPORT)
    return root


def test_it_reads_frontal_images_with_labels_reports_and_patients(tmp_path: Path) -> None:
    loaded = load_mimic(write_mimic(tmp_path))

    assert [r.image_id for r in loaded.records] == ["aaa-1", "bbb-1", "ccc-1"]
    first = loaded.records[0]
    assert first.study_id == "50414267" and first.patient_id == "10000032"
    assert first.view == "PA" and first.split == "train"
    assert first.mentions == {Label.PLEURAL_EFFUSION: Mention.POSITIVE}
    assert first.findings.startswith("There is a small left pleural effusion.")
    assert first.impression == "Small left pleural effusion."
    assert first.indication.startswith("___F with new onset ascites")
    assert (first.age, first.sex) == (52, "F")
    assert first.image_path == (tmp_path / "files/p10/p10000032/s50414267/aaa-1.jpg")
    assert loaded.records[2].age is None  # no patients row: unknown, not guessed


def test_it_counts_uncertain_as_positive_unless_told_otherwise(tmp_path: Path) -> None:
    record = load_mimic(write_mimic(tmp_path), splits={"test"}).records[0]

    assert record.mentions[Label.EDEMA] is Mention.NEGATIVE
    assert record.positives() == {Label.PNEUMOTHORAX}
    assert record.positives(UncertainPolicy.NEGATIVE) == frozenset()
    vector = record.label_vector()
    assert vector[LABELS.index(Label.PNEUMOTHORAX)] == 1.0 and vector.sum() == 1.0


def test_it_keeps_laterals_when_asked(tmp_path: Path) -> None:
    loaded = load_mimic(write_mimic(tmp_path), frontal_only=False, splits={"train"})

    assert [r.view for r in loaded.records] == ["PA", "LATERAL"]


def test_it_converts_a_record_to_a_training_item(tmp_path: Path) -> None:
    record = load_mimic(write_mimic(tmp_path)).records[1]

    item = record.to_training_item(32)

    assert item.pixels.shape == (32, 32) and item.pixels.dtype == np.float32
    assert item.pixels.min() >= 0.0 and item.pixels.max() <= 1.0
    assert item.report.startswith("FINDINGS: There is a small left pleural effusion.")
    assert "IMPRESSION: Small left pleural effusion." in item.report
    assert (
        item.prompt == "age 76, male, indication: ___F with new onset ascites // eval for infection"
    )
    assert item.labels.shape == (14,)


def test_it_leaves_out_studies_without_labels_and_says_so(tmp_path: Path) -> None:
    write_mimic(tmp_path)
    write_csv(
        tmp_path / "mimic-cxr-2.0.0-chexpert.csv.gz",
        ["subject_id", "study_id", *LABEL_COLUMNS],
        [["10000032", "50414267", *([""] * 14)]],
    )

    loaded = load_mimic(tmp_path)

    assert [r.image_id for r in loaded.records] == ["aaa-1"]
    assert len(loaded.skipped) == 2 and "s57375967" in loaded.skipped[0]


def test_it_names_the_file_and_line_of_an_unknown_column(tmp_path: Path) -> None:
    write_mimic(tmp_path)
    write_csv(
        tmp_path / "mimic-cxr-2.0.0-split.csv.gz",
        ["dicom_id", "study_id", "subject_id", "split", "fold"],
        [["aaa-1", "50414267", "10000032", "train", "1"]],
    )

    with pytest.raises(DatasetError, match=r"split\.csv\.gz line 1: unknown column\(s\) fold"):
        load_mimic(tmp_path)


def test_it_names_the_file_and_line_of_a_missing_column(tmp_path: Path) -> None:
    write_mimic(tmp_path)
    write_csv(
        tmp_path / "mimic-cxr-2.0.0-metadata.csv.gz",
        ["dicom_id", "subject_id", "study_id"],
        [["aaa-1", "10000032", "50414267"]],
    )

    with pytest.raises(DatasetError, match=r"metadata\.csv\.gz line 1: missing column.*ViewPos"):
        load_mimic(tmp_path)


def test_it_names_the_line_of_a_bad_label_value(tmp_path: Path) -> None:
    images = [*IMAGES[:3], ("ccc-1", "11000011", "51234567", "validate", "PA", {"Edema": "2"})]
    write_mimic(tmp_path, images)

    with pytest.raises(DatasetError, match=r"chexpert\.csv\.gz line 4: Edema = '2'"):
        load_mimic(tmp_path)


def test_it_names_the_line_of_an_unknown_split(tmp_path: Path) -> None:
    images = [*IMAGES[:2], ("bbb-1", "10000764", "57375967", "dev", "AP", {})]
    write_mimic(tmp_path, images)

    with pytest.raises(DatasetError, match=r"split\.csv\.gz line 4: unknown split 'dev'"):
        load_mimic(tmp_path)


def test_it_names_a_missing_image_and_the_line_listing_it(tmp_path: Path) -> None:
    write_mimic(tmp_path)
    (tmp_path / "files/p10/p10000764/s57375967/bbb-1.jpg").unlink()

    with pytest.raises(DatasetError, match=r"bbb-1\.jpg: image file missing.*line 4"):
        load_mimic(tmp_path)


def test_it_names_a_missing_csv_and_a_missing_report(tmp_path: Path) -> None:
    write_mimic(tmp_path)
    (tmp_path / "files/p10/p10000032/s50414267.txt").unlink()
    with pytest.raises(DatasetError, match=r"s50414267\.txt: report file missing"):
        load_mimic(tmp_path)
    assert load_mimic(tmp_path, require_reports=False).records[0].findings == ""

    (tmp_path / "mimic-cxr-2.0.0-chexpert.csv.gz").unlink()
    with pytest.raises(DatasetError, match=r"chexpert\.csv\.gz: file missing"):
        load_mimic(tmp_path)


def test_it_reads_report_sections_by_heading() -> None:
    sections = report_sections(REPORT)

    assert sections["IMPRESSION"] == "Small left pleural effusion."
    assert "FINAL REPORT" not in " ".join(sections.values())
