"""IU X-ray / Open-i (Demner-Fushman et al., 2016) as :class:`StudyRecord` values.

The layout read, as the NLM distributes it::

    <root>/ecgen-radiology/<n>.xml   one report: uId, AbstractText FINDINGS / IMPRESSION /
                                     INDICATION, parentImage ids, MeSH
    <root>/NLMCXR_png/<image id>.png e.g. CXR1_1_IM-0001-3001.png

IU has no CheXpert label file, so labels come from the project's rule labeller
(:mod:`inference.labeller`) reading findings and impression. The XML does not say which image
is frontal; frontal images are told from laterals by mirror symmetry, the same test drafting
uses for headerless images (:data:`inference.preprocess.FRONTAL_SYMMETRY_MIN`). There is no
official split: a report's split is fixed by a hash of its id (70 / 10 / 20 % train /
validate / test). Age and sex are read from the indication when it states them
("45-year-old male"). Imports no Django.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Collection
from pathlib import Path

from inference.datasets.records import (
    DatasetError,
    LoadedDataset,
    StudyRecord,
    load_picture,
)
from inference.iu_reports import IUReport, parse_report
from inference.labeller import label_report
from inference.preprocess import FRONTAL_SYMMETRY_MIN, mirror_symmetry

SOURCE = "iu-xray"
REPORTS_DIR, IMAGES_DIR = "ecgen-radiology", "NLMCXR_png"
_AGE_SEX = re.compile(
    r"\b(\d{1,3})[- ]?(?:year|yr|y)[- ]?old\s+(male|female|man|woman|boy|girl|m|f)\b",
    re.IGNORECASE,
)
_SEX = {"male": "M", "man": "M", "boy": "M", "m": "M"}
_SEX |= {"female": "F", "woman": "F", "girl": "F", "f": "F"}


def split_of(report_id: str) -> str:
    """The report's split, fixed by its id: 70 % train, 10 % validate, 20 % test."""
    bucket = int(hashlib.sha256(report_id.encode()).hexdigest(), 16) % 10
    return "train" if bucket < 7 else "validate" if bucket == 7 else "test"


def age_and_sex(text: str) -> tuple[int | None, str]:
    """``(age, "M"/"F")`` from "45-year-old male" style text; ``(None, "")`` when unsaid."""
    match = _AGE_SEX.search(text)
    if match is None:
        return None, ""
    return int(match.group(1)), _SEX[match.group(2).lower()]


def _report_files(root: Path) -> list[Path]:
    folder = root / REPORTS_DIR
    if not folder.is_dir():
        raise DatasetError(folder, "report folder missing (expected the Open-i XML files)")
    files = sorted(folder.glob("*.xml"), key=lambda p: (len(p.stem), p.stem))
    if not files:
        raise DatasetError(folder, "no .xml reports in the folder")
    return files


def _parse(path: Path) -> IUReport:
    try:
        return parse_report(path.read_bytes())
    except OSError as error:
        raise DatasetError(path, f"cannot be read ({error})") from error
    except ValueError as error:
        line = getattr(error.__cause__, "position", (None,))[0]
        raise DatasetError(path, str(error), line) from error


def load_iu(
    root: Path,
    *,
    splits: Collection[str] | None = None,
    frontal_only: bool = True,
) -> LoadedDataset:
    """Read an IU X-ray folder: one record per (frontal) image of each report.

    Reports without images, or without a frontal image when ``frontal_only``, are left out
    and named in :attr:`LoadedDataset.skipped`.

    Raises:
        DatasetError: the report folder is missing, an XML is malformed (file and line), or
            an image a report names is missing or unreadable.
    """
    records: list[StudyRecord] = []
    skipped: list[str] = []
    for path in _report_files(root):
        report = _parse(path)
        split = split_of(report.report_id)
        if splits is not None and split not in splits:
            continue
        if not report.image_ids:
            skipped.append(f"{report.report_id}: no images ({path.name})")
            continue
        text = " ".join(part for part in (report.findings, report.impression) if part)
        mentions = label_report(text)
        age, sex = age_and_sex(report.indication)
        kept = 0
        for image_id in report.image_ids:
            image = root / IMAGES_DIR / f"{image_id}.png"
            if not image.is_file():
                raise DatasetError(image, f"image file missing (parentImage of {path.name})")
            frontal = mirror_symmetry(load_picture(image)) >= FRONTAL_SYMMETRY_MIN
            if frontal_only and not frontal:
                continue
            kept += 1
            records.append(
                StudyRecord(
                    source=SOURCE,
                    image_path=image,
                    image_id=image_id,
                    study_id=report.report_id,
                    patient_id=report.report_id,  # IU is one study per (anonymous) patient
                    view="frontal" if frontal else "lateral",
                    mentions=mentions,
                    findings=report.findings,
                    impression=report.impression,
                    split=split,
                    age=age,
                    sex=sex,
                    indication=report.indication,
                )
            )
        if not kept:
            skipped.append(f"{report.report_id}: no frontal image ({path.name})")
    return LoadedDataset(tuple(records), tuple(skipped))
