"""The record every public data set loader yields, and its conversion to a training item.

MIMIC-CXR-JPG (:mod:`inference.datasets.mimic`) and IU X-ray / Open-i
(:mod:`inference.datasets.iu`) differ in layout but describe the same thing: one chest
radiograph of one study, with CheXpert-style label mentions, the report's findings and
impression, and what is known of the patient. Imports no Django.
"""

from __future__ import annotations

import csv
import gzip
from collections.abc import Collection, Iterator, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path

import numpy as np
from numpy.typing import NDArray
from PIL import Image, UnidentifiedImageError

from inference.labels import LABELS, Label, Mention
from inference.models.tokenizer import format_report
from inference.preprocess import letterbox
from inference.training import TrainingItem
from inference.types import ClinicalContext, PreparedImage


class DatasetError(ValueError):
    """A data set file is missing or malformed. The message names the file and, where there
    is one, the line: ``mimic-cxr-2.0.0-split.csv.gz line 7: unknown split 'dev'``."""

    def __init__(self, path: Path, problem: str, line: int | None = None) -> None:
        self.path = path
        self.line = line
        where = f"{path} line {line}" if line is not None else str(path)
        super().__init__(f"{where}: {problem}")


class UncertainPolicy(StrEnum):
    """What a CheXpert ``-1`` (uncertain) label becomes: "U-Ones" or "U-Zeros" of Irvin et al."""

    POSITIVE = "positive"
    NEGATIVE = "negative"


@dataclass(frozen=True)
class StudyRecord:
    """One frontal (or, on request, any) chest radiograph of one study.

    ``mentions`` holds the labels the source states, CheXpert's 1 / 0 / -1 as
    :class:`Mention`; a label absent from it is CheXpert's blank (not mentioned).
    """

    source: str  # "mimic-cxr" | "iu-xray"
    image_path: Path
    image_id: str  # MIMIC dicom_id, IU image id
    study_id: str
    patient_id: str
    view: str  # "PA", "AP", "LATERAL", ... (MIMIC ViewPosition) or "frontal"/"lateral" (IU)
    mentions: Mapping[Label, Mention] = field(default_factory=dict)
    findings: str = ""
    impression: str = ""
    split: str = ""  # "train" | "validate" | "test"
    age: int | None = None  # years
    sex: str = ""  # "M" | "F" | ""
    indication: str = ""

    def positives(self, policy: UncertainPolicy = UncertainPolicy.POSITIVE) -> frozenset[Label]:
        """The labels counted as present under ``policy``."""
        accepted = {Mention.POSITIVE}
        if policy is UncertainPolicy.POSITIVE:
            accepted.add(Mention.UNCERTAIN)
        return frozenset(label for label, m in self.mentions.items() if m in accepted)

    def label_vector(
        self, policy: UncertainPolicy = UncertainPolicy.POSITIVE
    ) -> NDArray[np.float32]:
        """(14,) float32 in {0, 1}, :data:`LABELS` order (blank counts as 0)."""
        present = self.positives(policy)
        return np.array([1.0 if label in present else 0.0 for label in LABELS], dtype=np.float32)

    @property
    def report_text(self) -> str:
        """Findings then impression in the model's layout (``FINDINGS: ... IMPRESSION: ...``)."""
        return format_report(self.findings, self.impression)

    @property
    def context(self) -> ClinicalContext:
        return ClinicalContext(age_years=self.age, sex=self.sex, indication=self.indication)

    def prepare(self, size: int) -> PreparedImage:
        """The image as a model input (letterboxed to ``size``, 0..1, 0 = black).

        Raises:
            DatasetError: the file is missing or not a readable image.
        """
        pixels = load_picture(self.image_path)
        square, scale, offset = letterbox(pixels, size)
        return PreparedImage(
            pixels=square,
            original_shape=(int(pixels.shape[0]), int(pixels.shape[1])),
            scale=scale,
            offset=offset,
            sop_uid=self.image_id,
            view_position=self.view,
        )

    def to_training_item(
        self, image_size: int, policy: UncertainPolicy = UncertainPolicy.POSITIVE
    ) -> TrainingItem:
        """The record as :class:`inference.training.TrainingItem` (pixels not normalised)."""
        return TrainingItem(
            pixels=self.prepare(image_size).pixels,
            labels=self.label_vector(policy),
            report=self.report_text,
            prompt=self.context.as_prompt(),
        )


@dataclass(frozen=True)
class LoadedDataset:
    """What a loader read: the records, and every study it left out with the reason (so
    nothing is dropped silently)."""

    records: tuple[StudyRecord, ...]
    skipped: tuple[str, ...] = ()  # "s50414267: no CheXpert labels", ...


def load_picture(path: Path) -> NDArray[np.float32]:
    """A JPEG/PNG radiograph as float32 (rows, columns) in 0..1 (grey; 16-bit kept).

    Raises:
        DatasetError: missing or unreadable file.
    """
    if not path.is_file():
        raise DatasetError(path, "image file missing")
    try:
        with Image.open(path) as image:
            if image.mode in {"I;16", "I;16B", "I"}:
                values = np.asarray(image, dtype=np.float32)
                top = 65535.0 if image.mode.startswith("I;16") else max(float(values.max()), 1.0)
            else:
                values = np.asarray(image.convert("L"), dtype=np.float32)
                top = 255.0
    except (OSError, UnidentifiedImageError) as error:
        raise DatasetError(path, f"not a readable image ({error})") from error
    if values.ndim != 2 or min(values.shape) < 1:
        raise DatasetError(path, f"expected a 2-D grey image, got shape {values.shape}")
    return np.clip(values / top, 0.0, 1.0).astype(np.float32)


def find_table(root: Path, stem: str) -> Path:
    """``root/stem.csv.gz`` or ``root/stem.csv``, whichever exists.

    Raises:
        DatasetError: neither exists.
    """
    for name in (f"{stem}.csv.gz", f"{stem}.csv"):
        if (root / name).is_file():
            return root / name
    raise DatasetError(root / f"{stem}.csv.gz", "file missing (nor .csv)")


def read_table(
    path: Path, *, required: Collection[str], known: Collection[str]
) -> Iterator[tuple[int, dict[str, str]]]:
    """Rows of a CSV (gzip when it ends in ``.gz``) as ``(line number, {column: value})``.

    The header is line 1, so the first row is line 2.

    Raises:
        DatasetError: the header lacks a ``required`` column or has one outside ``known``,
            a row has the wrong number of fields, or the file cannot be read.
    """
    try:
        opener = gzip.open if path.suffix == ".gz" else open
        with opener(path, "rt", newline="", encoding="utf-8") as handle:
            reader = csv.reader(handle)
            header = next(reader, None)
            if header is None:
                raise DatasetError(path, "empty file, expected a header", 1)
            header = [name.strip() for name in header]
            missing = [name for name in required if name not in header]
            if missing:
                raise DatasetError(path, f"missing column(s) {', '.join(missing)}", 1)
            unknown = [name for name in header if name not in known]
            if unknown:
                raise DatasetError(path, f"unknown column(s) {', '.join(unknown)}", 1)
            for row in reader:
                line = reader.line_num
                if not row:
                    continue
                if len(row) != len(header):
                    raise DatasetError(
                        path, f"{len(row)} fields, the header has {len(header)}", line
                    )
                yield line, dict(zip(header, (value.strip() for value in row), strict=True))
    except (OSError, UnicodeDecodeError, csv.Error, EOFError) as error:
        raise DatasetError(path, f"cannot be read ({error})") from error
