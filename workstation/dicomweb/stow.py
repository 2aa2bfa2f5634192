"""STOW-RS: each part of a multipart/related upload goes through the C-STORE ingest path.

Every part is validated, stored under its content hash and recorded exactly as an instance
received over C-STORE (``workstation.studies.services.instance_ingest``): the same refusals,
the same idempotence. A part that fails stores nothing and is reported in the Failed SOP
Sequence with its reason (PS3.18 10.5.3); the others are stored regardless.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from enum import IntEnum

import pydicom
from django.db import DatabaseError
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence as DicomSequence

from workstation.dicom.ingest import IngestRefused, StoreStatus
from workstation.dicom.part10 import Part10Error, encode_preamble_and_meta, split_part10
from workstation.dicomweb.multipart import Part
from workstation.studies import services
from workstation.studies.storage import StorageError

logger = logging.getLogger(__name__)


class FailureReason(IntEnum):
    """PS3.18 Table 10.5.3-1 failure reasons (the C-STORE statuses of PS3.4 B.2.3)."""

    PROCESSING_FAILURE = 0x0110
    SOP_CLASS_NOT_SUPPORTED = 0x0122
    OUT_OF_RESOURCES = 0xA700  # storage or database unavailable: retry later
    DOES_NOT_MATCH = 0xA900  # dataset vs SOP class, or not of the study in the URL
    CANNOT_UNDERSTAND = 0xC000
    TRANSFER_SYNTAX_NOT_SUPPORTED = 0xC122


_FROM_STORE_STATUS = {
    StoreStatus.SOP_CLASS_NOT_SUPPORTED: FailureReason.SOP_CLASS_NOT_SUPPORTED,
    StoreStatus.UNSUPPORTED_TRANSFER_SYNTAX: FailureReason.TRANSFER_SYNTAX_NOT_SUPPORTED,
    StoreStatus.DATASET_DOES_NOT_MATCH_SOP_CLASS: FailureReason.DOES_NOT_MATCH,
    StoreStatus.OUT_OF_RESOURCES: FailureReason.OUT_OF_RESOURCES,
}


@dataclass(frozen=True)
class PartOutcome:
    sop_class_uid: str
    sop_uid: str
    study_uid: str
    series_uid: str
    failure: FailureReason | None
    message: str


@dataclass(frozen=True)
class StowResult:
    outcomes: list[PartOutcome]

    @property
    def stored(self) -> list[PartOutcome]:
        return [o for o in self.outcomes if o.failure is None]

    @property
    def failed(self) -> list[PartOutcome]:
        return [o for o in self.outcomes if o.failure is not None]

    @property
    def http_status(self) -> int:
        """200 all stored, 202 some, 409 none (PS3.18 10.5.3)."""
        if not self.failed:
            return 200
        return 202 if self.stored else 409


def _failure(
    ds: Dataset | None, reason: FailureReason, message: str, study_uid: str = ""
) -> PartOutcome:
    sop_class = str(ds.get("SOPClassUID", "")) if ds is not None else ""
    sop_uid = str(ds.get("SOPInstanceUID", "")) if ds is not None else ""
    return PartOutcome(sop_class[:64], sop_uid[:64], study_uid, "", reason, message)


def _store_part(part: Part, *, study_uid: str | None, source: str) -> PartOutcome:
    if part.content_type not in ("application/dicom", ""):
        return _failure(
            None, FailureReason.CANNOT_UNDERSTAND, f"part of type {part.content_type!r}"
        )
    try:
        part10 = split_part10(part.body)
        ds = pydicom.dcmread(pydicom.filebase.DicomBytesIO(part.body))
        ds.get("SOPInstanceUID")  # header elements decode lazily; fail here, not later
    except Part10Error as exc:
        return _failure(None, FailureReason.CANNOT_UNDERSTAND, str(exc))
    except Exception as exc:  # pydicom raises many types on corrupt bytes
        return _failure(None, FailureReason.CANNOT_UNDERSTAND, f"undecodable: {str(exc)[:200]}")
    if study_uid is not None and str(ds.get("StudyInstanceUID", "")) != study_uid:
        return _failure(ds, FailureReason.DOES_NOT_MATCH, "not an instance of the study in the URL")
    try:
        result = services.instance_ingest(
            dataset=ds,
            dataset_bytes=part10.dataset_bytes,
            preamble_and_meta=encode_preamble_and_meta(part10.file_meta),
            transfer_syntax_uid=str(part10.file_meta.TransferSyntaxUID),
            affected_sop_class_uid=str(part10.file_meta.MediaStorageSOPClassUID),
            affected_sop_uid=str(part10.file_meta.MediaStorageSOPInstanceUID),
            source=source,
        )
    except IngestRefused as refused:
        reason = _FROM_STORE_STATUS.get(refused.status, FailureReason.CANNOT_UNDERSTAND)
        return _failure(ds, reason, refused.message)
    except (StorageError, DatabaseError) as exc:
        logger.error("STOW-RS part not stored: %s", exc)
        return _failure(ds, FailureReason.OUT_OF_RESOURCES, "storage unavailable, retry later")
    return PartOutcome(
        str(ds.SOPClassUID), result.sop_uid, result.study_uid, str(ds.SeriesInstanceUID), None, ""
    )


def stow_store(*, parts: Sequence[Part], study_uid: str | None, source: str) -> StowResult:
    """Store each part (a DICOM Part 10 file); ``study_uid`` (from the URL) must then be
    every instance's study. ``source`` names the uploader (``stow:<user id>``)."""
    return StowResult([_store_part(p, study_uid=study_uid, source=source) for p in parts])


def stow_response(result: StowResult, *, base_url: str, study_uid: str | None) -> Dataset:
    """The PS3.18 Store Instances Response Module as a dataset."""
    response = Dataset()
    studies = {o.study_uid for o in result.stored}
    if study_uid is not None or len(studies) == 1:
        uid = study_uid or next(iter(studies))
        response.RetrieveURL = f"{base_url}/studies/{uid}"
    referenced = []
    for outcome in result.stored:
        item = Dataset()
        item.ReferencedSOPClassUID = outcome.sop_class_uid
        item.ReferencedSOPInstanceUID = outcome.sop_uid
        item.RetrieveURL = (
            f"{base_url}/studies/{outcome.study_uid}/series/{outcome.series_uid}"
            f"/instances/{outcome.sop_uid}"
        )
        referenced.append(item)
    failed = []
    for outcome in result.failed:
        assert outcome.failure is not None
        item = Dataset()
        item.ReferencedSOPClassUID = outcome.sop_class_uid or None
        item.ReferencedSOPInstanceUID = outcome.sop_uid or None
        item.FailureReason = int(outcome.failure)
        failed.append(item)
    if referenced:
        response.ReferencedSOPSequence = DicomSequence(referenced)
    if failed:
        response.FailedSOPSequence = DicomSequence(failed)
    return response
