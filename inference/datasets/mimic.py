"""MIMIC-CXR-JPG (Johnson et al., PhysioNet) as :class:`StudyRecord` values.

The layout read, as PhysioNet publishes it (each CSV may also be uncompressed)::

    <root>/mimic-cxr-2.0.0-split.csv.gz      dicom_id, study_id, subject_id, split
    <root>/mimic-cxr-2.0.0-chexpert.csv.gz   subject_id, study_id, the 14 CheXpert labels
                                             (1.0 positive, 0.0 negative, -1.0 uncertain,
                                             blank not mentioned)
    <root>/mimic-cxr-2.0.0-metadata.csv.gz   dicom_id, ..., ViewPosition, Rows, Columns, ...
    <root>/files/p10/p10000032/s50414267/<dicom_id>.jpg
    <root>/files/p10/p10000032/s50414267.txt the report (mimic-cxr-reports)
    <root>/patients.csv.gz                   optional, MIMIC-IV hosp: subject_id, gender,
                                             anchor_age (for the subgroup audit)

Only frontal images (ViewPosition PA or AP) are read by default. A study without a CheXpert
row is left out and named in :attr:`LoadedDataset.skipped`. Imports no Django.
"""

from __future__ import annotations

import re
from collections.abc import Collection
from pathlib import Path

from inference.datasets.records import (
    DatasetError,
    LoadedDataset,
    StudyRecord,
    find_table,
    read_table,
)
from inference.labels import LABELS, Label, Mention

SOURCE = "mimic-cxr"
SPLIT, CHEXPERT, METADATA, PATIENTS = (
    "mimic-cxr-2.0.0-split",
    "mimic-cxr-2.0.0-chexpert",
    "mimic-cxr-2.0.0-metadata",
    "patients",
)
SPLITS = frozenset({"train", "validate", "test"})
FRONTAL_VIEWS = frozenset({"PA", "AP"})
LABEL_COLUMNS = tuple(label.value for label in LABELS)
METADATA_COLUMNS = frozenset(
    {
        "dicom_id",
        "subject_id",
        "study_id",
        "PerformedProcedureStepDescription",
        "ViewPosition",
        "Rows",
        "Columns",
        "StudyDate",
        "StudyTime",
        "ProcedureCodeSequence_CodeMeaning",
        "ViewCodeSequence_CodeMeaning",
        "PatientOrientationCodeSequence_CodeMeaning",
    }
)
PATIENT_COLUMNS = frozenset(
    {"subject_id", "gender", "anchor_age", "anchor_year", "anchor_year_group", "dod"}
)
_VALUES = {"1.0": Mention.POSITIVE, "1": Mention.POSITIVE, "0.0": Mention.NEGATIVE}
_VALUES |= {"0": Mention.NEGATIVE, "-1.0": Mention.UNCERTAIN, "-1": Mention.UNCERTAIN}
#: Report section headings: an upper-case word or phrase at a line start, then a colon.
_HEADING = re.compile(r"^[ \t]*([A-Z][A-Z /&-]{2,40}):", re.MULTILINE)


def study_dir(root: Path, subject_id: str, study_id: str) -> Path:
    """``root/files/p10/p10000032/s50414267`` (the folder of one study's images)."""
    return root / "files" / f"p{subject_id[:2]}" / f"p{subject_id}" / f"s{study_id}"


def report_sections(text: str) -> dict[str, str]:
    """A MIMIC report's sections by upper-case heading (``FINDINGS``, ``IMPRESSION``,
    ``INDICATION``...), whitespace collapsed; text before the first heading is dropped
    (it is the "FINAL REPORT" banner and examination line)."""
    matches = list(_HEADING.finditer(text))
    sections: dict[str, str] = {}
    for i, match in enumerate(matches):
        end = matches[i + 1].start() if i + 1 < len(matches) else len(text)
        body = " ".join(text[match.end() : end].split())
        name = " ".join(match.group(1).split())
        sections[name] = f"{sections[name]} {body}".strip() if name in sections else body
    return sections


def _ids(path: Path, line: int, row: dict[str, str], *names: str) -> list[str]:
    values = [row[name] for name in names]
    for name, value in zip(names, values, strict=True):
        if not value:
            raise DatasetError(path, f"empty {name}", line)
        if name != "dicom_id" and not value.isdigit():
            raise DatasetError(path, f"{name} {value!r} is not a number", line)
    return values


def _labels(root: Path) -> dict[tuple[str, str], dict[Label, Mention]]:
    path = find_table(root, CHEXPERT)
    known = {"subject_id", "study_id", *LABEL_COLUMNS}
    out: dict[tuple[str, str], dict[Label, Mention]] = {}
    for line, row in read_table(path, required=known, known=known):
        subject, study = _ids(path, line, row, "subject_id", "study_id")
        mentions: dict[Label, Mention] = {}
        for label in LABELS:
            value = row[label.value]
            if not value:
                continue
            if value not in _VALUES:
                raise DatasetError(
                    path, f"{label.value} = {value!r}, expected 1.0, 0.0, -1.0 or blank", line
                )
            mentions[label] = _VALUES[value]
        out[(subject, study)] = mentions
    return out


def _views(root: Path) -> dict[str, str]:
    path = find_table(root, METADATA)
    required = ("dicom_id", "subject_id", "study_id", "ViewPosition")
    return {
        row["dicom_id"]: row["ViewPosition"].upper()
        for _, row in read_table(path, required=required, known=METADATA_COLUMNS)
    }


def _patients(root: Path) -> dict[str, tuple[int | None, str]]:
    """``{subject_id: (age, sex)}`` from MIMIC-IV's patients table when it is there."""
    try:
        path = find_table(root, PATIENTS)
    except DatasetError:
        return {}
    out: dict[str, tuple[int | None, str]] = {}
    required = ("subject_id", "gender", "anchor_age")
    for line, row in read_table(path, required=required, known=PATIENT_COLUMNS):
        age = row["anchor_age"]
        if age and not age.isdigit():
            raise DatasetError(path, f"anchor_age {age!r} is not a number", line)
        sex = row["gender"].upper()
        if sex not in {"M", "F", ""}:
            raise DatasetError(path, f"gender {row['gender']!r}, expected M or F", line)
        out[row["subject_id"]] = (int(age) if age else None, sex)
    return out


def _report(root: Path, subject: str, study: str, required: bool) -> dict[str, str]:
    path = study_dir(root, subject, study).with_suffix(".txt")
    if not path.is_file():
        if required:
            raise DatasetError(path, "report file missing (mimic-cxr-reports)")
        return {}
    try:
        return report_sections(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as error:
        raise DatasetError(path, f"cannot be read ({error})") from error


def load_mimic(
    root: Path,
    *,
    splits: Collection[str] | None = None,
    frontal_only: bool = True,
    require_reports: bool = True,
    check_images: bool = True,
) -> LoadedDataset:
    """Read a MIMIC-CXR-JPG folder.

    Args:
        splits: keep only these official splits ("train", "validate", "test"); None = all.
        frontal_only: keep only PA and AP images.
        require_reports: a missing report ``.txt`` is an error (else the text is empty).
        check_images: a missing image ``.jpg`` is an error (checked while reading).

    Raises:
        DatasetError: a missing CSV, report or image, or a CSV with missing or unknown
            columns or a bad value; the message names the file and line.
    """
    if splits is not None and not set(splits) <= SPLITS:
        raise ValueError(f"unknown split(s) {sorted(set(splits) - SPLITS)}; known {sorted(SPLITS)}")
    split_path = find_table(root, SPLIT)
    labels, views, patients = _labels(root), _views(root), _patients(root)
    records: list[StudyRecord] = []
    skipped: list[str] = []
    required = ("dicom_id", "study_id", "subject_id", "split")
    for line, row in read_table(split_path, required=required, known=required):
        dicom_id, study, subject = _ids(split_path, line, row, "dicom_id", "study_id", "subject_id")
        split = row["split"]
        if split not in SPLITS:
            raise DatasetError(split_path, f"unknown split {split!r}", line)
        if splits is not None and split not in splits:
            continue
        if dicom_id not in views:
            raise DatasetError(split_path, f"dicom_id {dicom_id} is not in {METADATA}", line)
        view = views[dicom_id]
        if frontal_only and view not in FRONTAL_VIEWS:
            continue
        if (subject, study) not in labels:
            skipped.append(f"s{study} ({dicom_id}): no row in {CHEXPERT}")
            continue
        image = study_dir(root, subject, study) / f"{dicom_id}.jpg"
        if check_images and not image.is_file():
            raise DatasetError(
                image, f"image file missing (listed in {split_path.name} line {line})"
            )
        sections = _report(root, subject, study, require_reports)
        age, sex = patients.get(subject, (None, ""))
        records.append(
            StudyRecord(
                source=SOURCE,
                image_path=image,
                image_id=dicom_id,
                study_id=study,
                patient_id=subject,
                view=view,
                mentions=labels[(subject, study)],
                findings=sections.get("FINDINGS", ""),
                impression=sections.get("IMPRESSION", ""),
                split=split,
                age=age,
                sex=sex,
                indication=sections.get("INDICATION", ""),
            )
        )
    return LoadedDataset(tuple(records), tuple(skipped))
