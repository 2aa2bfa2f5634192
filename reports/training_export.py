"""The retraining export's on-disk layout, modelled on MIMIC-CXR-JPG 2.0.0 (Johnson et al.).

::

    files/p10/p10000032/s50414267/<dicom_id>.jpg   8-bit display image (JPEG)
    files/p10/p10000032/s50414267/<dicom_id>.dcm   the de-identified DICOM instance
    reports/files/p10/p10000032/s50414267.txt      the signed report, PHI scrubbed
    mimic-cxr-2.0.0-split.csv      dicom_id, study_id, subject_id, split
    mimic-cxr-2.0.0-chexpert.csv   subject_id, study_id, 14 labels (1.0 / 0.0 / -1.0 / blank)
    mimic-cxr-2.0.0-metadata.csv   dicom_id, subject_id, study_id, PerformedProcedureStep-
                                   Description, ViewPosition, Rows, Columns, StudyDate, StudyTime
    edits.jsonl                    per study: AI draft, signed text, edit metrics, model version
    held_back.csv                  dicom_id, study_id, subject_id, reason

Every id in it is a pseudonym; nothing here reads the database. Imports no Django.
"""

from __future__ import annotations

import csv
import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray
from PIL import Image
from pydicom.dataset import Dataset

from inference.labels import Label, Mention

SPLIT_CSV = "mimic-cxr-2.0.0-split.csv"
CHEXPERT_CSV = "mimic-cxr-2.0.0-chexpert.csv"
METADATA_CSV = "mimic-cxr-2.0.0-metadata.csv"
EDITS_JSONL = "edits.jsonl"
HELD_BACK_CSV = "held_back.csv"

#: MIMIC-CXR's column order: the 14 CheXpert labels alphabetically.
CHEXPERT_COLUMNS: tuple[Label, ...] = tuple(sorted(Label, key=lambda label: label.value))
MENTION_VALUES: dict[Mention, str] = {
    Mention.POSITIVE: "1.0",
    Mention.NEGATIVE: "0.0",
    Mention.UNCERTAIN: "-1.0",
}
METADATA_COLUMNS = (
    "dicom_id",
    "subject_id",
    "study_id",
    "PerformedProcedureStepDescription",
    "ViewPosition",
    "Rows",
    "Columns",
    "StudyDate",
    "StudyTime",
)
JPEG_QUALITY = 95


class Split(StrEnum):
    TRAIN = "train"
    VALIDATE = "validate"
    TEST = "test"


def split_for(subject_id: int) -> Split:
    """90/5/5 by a hash of the pseudo subject id: a patient's studies share one split."""
    bucket = int.from_bytes(hashlib.sha256(str(subject_id).encode()).digest()[:8], "big") % 100
    if bucket < 90:
        return Split.TRAIN
    return Split.VALIDATE if bucket < 95 else Split.TEST


def _patient_parts(subject_id: int) -> tuple[str, str]:
    return f"p{str(subject_id)[:2]}", f"p{subject_id}"


def study_dir(root: Path, *, subject_id: int, study_id: int) -> Path:
    group, patient = _patient_parts(subject_id)
    return root / "files" / group / patient / f"s{study_id}"


def report_path(root: Path, *, subject_id: int, study_id: int) -> Path:
    group, patient = _patient_parts(subject_id)
    return root / "reports" / "files" / group / patient / f"s{study_id}.txt"


@dataclass(frozen=True)
class ImageRecord:
    """One exported instance: a metadata and a split row."""

    dicom_id: str
    subject_id: int
    study_id: int
    procedure: str  # PerformedProcedureStepDescription, PHI-scrubbed
    view_position: str
    rows: int
    columns: int
    study_date: str  # YYYYMMDD, shifted
    study_time: str  # HHMMSS(.ffffff), kept (dates move by whole days)


@dataclass(frozen=True)
class StudyLabels:
    subject_id: int
    study_id: int
    labels: Mapping[Label, Mention]  # the labeller on the signed text; absent = blank


@dataclass(frozen=True)
class EditsRecord:
    """How the radiologist changed the AI draft; texts are PHI-scrubbed."""

    subject_id: int
    study_id: int
    dicom_ids: tuple[str, ...]
    model_version: str  # of the AI draft; "" when the report had none
    ai_draft: str | None
    signed: str
    metrics: Mapping[str, Any] | None  # ReportMetrics' fields; None without an AI draft
    decisions: tuple[Mapping[str, Any], ...] = field(default=())  # label, decision, confidence


@dataclass(frozen=True)
class HeldBack:
    dicom_id: str  # "" when the study has no instance to name
    subject_id: int
    study_id: int
    reason: str  # never contains PHI: names rules and element keywords only


class TrainingSetWriter:
    """Writes images and reports as they come, and the tables at :meth:`finish`."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.images: list[ImageRecord] = []
        self.studies: list[StudyLabels] = []
        self.edits: list[EditsRecord] = []
        self.held_back: list[HeldBack] = []

    def image_write(self, record: ImageRecord, *, pixels: NDArray[np.uint8], ds: Dataset) -> None:
        """``pixels``: uint8 (rows, columns), 0 = black; ``ds`` already de-identified."""
        folder = study_dir(self.root, subject_id=record.subject_id, study_id=record.study_id)
        folder.mkdir(parents=True, exist_ok=True)
        # A bare JFIF: Pillow writes no EXIF or comment unless asked to.
        Image.fromarray(pixels).save(
            folder / f"{record.dicom_id}.jpg", format="JPEG", quality=JPEG_QUALITY
        )
        ds.save_as(folder / f"{record.dicom_id}.dcm", enforce_file_format=True)
        self.images.append(record)

    def report_write(self, *, subject_id: int, study_id: int, text: str) -> None:
        path = report_path(self.root, subject_id=subject_id, study_id=study_id)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")

    def finish(self) -> None:
        """Write the CSV and JSONL tables (sorted, so one export's files are reproducible)."""
        images = sorted(self.images, key=lambda r: (r.subject_id, r.study_id, r.dicom_id))
        _csv(
            self.root / SPLIT_CSV,
            ("dicom_id", "study_id", "subject_id", "split"),
            [(r.dicom_id, r.study_id, r.subject_id, split_for(r.subject_id)) for r in images],
        )
        _csv(
            self.root / METADATA_CSV,
            METADATA_COLUMNS,
            [
                (
                    r.dicom_id,
                    r.subject_id,
                    r.study_id,
                    r.procedure,
                    r.view_position,
                    r.rows,
                    r.columns,
                    r.study_date,
                    r.study_time,
                )
                for r in images
            ],
        )
        _csv(
            self.root / CHEXPERT_CSV,
            ("subject_id", "study_id", *(label.value for label in CHEXPERT_COLUMNS)),
            [
                (
                    s.subject_id,
                    s.study_id,
                    *(_chexpert_value(s.labels.get(label)) for label in CHEXPERT_COLUMNS),
                )
                for s in sorted(self.studies, key=lambda s: (s.subject_id, s.study_id))
            ],
        )
        with (self.root / EDITS_JSONL).open("w", encoding="utf-8") as handle:
            for record in sorted(self.edits, key=lambda e: (e.subject_id, e.study_id)):
                handle.write(json.dumps(asdict(record), sort_keys=True) + "\n")
        _csv(
            self.root / HELD_BACK_CSV,
            ("dicom_id", "study_id", "subject_id", "reason"),
            [
                (h.dicom_id, h.study_id, h.subject_id, h.reason)
                for h in sorted(self.held_back, key=lambda h: (h.subject_id, h.study_id))
            ],
        )


def _chexpert_value(mention: Mention | None) -> str:
    return "" if mention is None else MENTION_VALUES[mention]


def _csv(path: Path, header: Sequence[str], rows: Sequence[Sequence[object]]) -> None:
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)
