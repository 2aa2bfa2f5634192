"""Validation of received DICOM datasets, and the DIMSE statuses they map to.

Django-free: turns a decoded pydicom ``Dataset`` into an ``IncomingInstance`` (the header
values the database keeps) or raises ``IngestRefused`` with the DIMSE failure status to send.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from enum import IntEnum

from pydicom import uid as dicom_uid
from pydicom.datadict import tag_for_keyword
from pydicom.dataset import Dataset
from pydicom.valuerep import PersonName


class StoreStatus(IntEnum):
    """DIMSE C-STORE statuses this SCP answers with (PS3.4 Annex B.2.3 and PS3.7 C)."""

    SUCCESS = 0x0000
    SOP_CLASS_NOT_SUPPORTED = 0x0122  # refused: a storage class this SCP does not keep
    OUT_OF_RESOURCES = 0xA700  # storage or database unavailable: the sender should retry
    DATASET_DOES_NOT_MATCH_SOP_CLASS = 0xA900
    CANNOT_UNDERSTAND = 0xC000  # dataset could not be decoded
    INVALID_UID = 0xC001  # a required UID is missing or not conformant
    CONFLICTING_INSTANCE = 0xC002  # SOP Instance UID already stored for another study/series
    UNSUPPORTED_TRANSFER_SYNTAX = 0xC003


class IngestRefused(Exception):
    """A received dataset is refused; ``status`` is the DIMSE status to answer with."""

    def __init__(self, status: StoreStatus, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


# Storage SOP classes the SCP accepts. Chest radiography classes are drafted; CT/MR are kept.
RADIOGRAPHY_SOP_CLASSES: tuple[str, ...] = (
    "1.2.840.10008.5.1.4.1.1.1",  # Computed Radiography Image Storage
    "1.2.840.10008.5.1.4.1.1.1.1",  # Digital X-Ray Image Storage - For Presentation
    "1.2.840.10008.5.1.4.1.1.1.1.1",  # Digital X-Ray Image Storage - For Processing
    "1.2.840.10008.5.1.4.1.1.7",  # Secondary Capture Image Storage
    "1.2.840.10008.5.1.4.1.1.7.2",  # Multi-frame Grayscale Byte Secondary Capture
    "1.2.840.10008.5.1.4.1.1.7.3",  # Multi-frame Grayscale Word Secondary Capture
)
CROSS_SECTIONAL_SOP_CLASSES: tuple[str, ...] = (
    "1.2.840.10008.5.1.4.1.1.2",  # CT Image Storage
    "1.2.840.10008.5.1.4.1.1.2.1",  # Enhanced CT Image Storage
    "1.2.840.10008.5.1.4.1.1.4",  # MR Image Storage
    "1.2.840.10008.5.1.4.1.1.4.1",  # Enhanced MR Image Storage
)
# Results about the images (AI findings, presentation states, reports): kept, never drafted.
RESULT_SOP_CLASSES: tuple[str, ...] = (
    "1.2.840.10008.5.1.4.1.1.88.11",  # Basic Text SR Storage
    "1.2.840.10008.5.1.4.1.1.88.22",  # Enhanced SR Storage
    "1.2.840.10008.5.1.4.1.1.88.33",  # Comprehensive SR Storage
    "1.2.840.10008.5.1.4.1.1.88.34",  # Comprehensive 3D SR Storage
    "1.2.840.10008.5.1.4.1.1.11.1",  # Grayscale Softcopy Presentation State Storage
)
SUPPORTED_SOP_CLASSES = RADIOGRAPHY_SOP_CLASSES + CROSS_SECTIONAL_SOP_CLASSES + RESULT_SOP_CLASSES

# Transfer syntaxes whose pixel data pydicom decodes here (pylibjpeg with its openjpeg and
# libjpeg plugins for JPEG, JPEG-LS and JPEG 2000; pydicom itself for RLE and deflate).
SUPPORTED_TRANSFER_SYNTAXES: tuple[str, ...] = (
    dicom_uid.ImplicitVRLittleEndian,
    dicom_uid.ExplicitVRLittleEndian,
    dicom_uid.DeflatedExplicitVRLittleEndian,
    dicom_uid.ExplicitVRBigEndian,
    dicom_uid.JPEGBaseline8Bit,
    dicom_uid.JPEGExtended12Bit,
    dicom_uid.JPEGLossless,
    dicom_uid.JPEGLosslessSV1,
    dicom_uid.JPEGLSLossless,
    dicom_uid.JPEGLSNearLossless,
    dicom_uid.JPEG2000Lossless,
    dicom_uid.JPEG2000,
    dicom_uid.RLELossless,
)
LOSSY_TRANSFER_SYNTAXES = frozenset(
    {
        dicom_uid.JPEGBaseline8Bit,
        dicom_uid.JPEGExtended12Bit,
        dicom_uid.JPEGLSNearLossless,
        dicom_uid.JPEG2000,
    }
)
DRAFTABLE_MODALITIES = frozenset({"CR", "DX"})


def fidelity(transfer_syntax_uid: str, lossy: bool) -> int:
    """Rank of a copy of an instance: 2 never lossy-compressed, 1 lossless encoding of pixels
    that were once lossy-compressed (Lossy Image Compression "01"), 0 a lossy encoding."""
    if transfer_syntax_uid in LOSSY_TRANSFER_SYNTAXES:
        return 0
    return 1 if lossy else 2


# PS3.5 9.1: components of digits, no leading zeros, at most 64 characters.
_UID = re.compile(r"(0|[1-9][0-9]*)(\.(0|[1-9][0-9]*))*")


def uid_is_conformant(value: object) -> bool:
    """True for a UID that PS3.5 9.1 allows (so it can never be a path like ``../../x``)."""
    return isinstance(value, str) and len(value) <= 64 and bool(_UID.fullmatch(value))


@dataclass(frozen=True)
class IncomingInstance:
    """Header values of one received instance, validated."""

    sop_class_uid: str
    sop_uid: str
    study_uid: str
    series_uid: str
    transfer_syntax_uid: str
    modality: str
    patient_id: str
    issuer_of_patient_id: str
    patient_name: str
    patient_birth_date: dt.date | None
    patient_sex: str
    patient_age_years: int | None
    accession_number: str
    study_date: dt.date | None
    study_time: dt.time | None
    study_description: str
    referring_physician: str
    series_number: int | None
    series_description: str
    body_part: str
    instance_number: int | None
    rows: int | None
    columns: int | None
    bits_stored: int | None
    photometric_interpretation: str
    view_position: str
    image_laterality: str
    burned_in_annotation: str
    indication: str
    history: str
    lossy: bool

    @property
    def is_draftable(self) -> bool:
        return self.modality in DRAFTABLE_MODALITIES


def _text(ds: Dataset, keyword: str, max_len: int) -> str:
    value = ds.get(keyword)
    if value is None:
        return ""
    if isinstance(value, PersonName):
        text = str(value)
    elif isinstance(value, list | tuple) or (
        hasattr(value, "__iter__") and not isinstance(value, str | bytes)
    ):
        text = "\\".join(str(v) for v in value)
    else:
        text = str(value)
    return text.strip()[:max_len]


def _int(ds: Dataset, keyword: str) -> int | None:
    value = ds.get(keyword)
    try:
        return int(value) if value not in (None, "") else None
    except (TypeError, ValueError):
        return None


def _date(ds: Dataset, keyword: str) -> dt.date | None:
    raw = _text(ds, keyword, 8)
    try:
        return dt.datetime.strptime(raw, "%Y%m%d").date() if raw else None
    except ValueError:
        return None


def _time(ds: Dataset, keyword: str) -> dt.time | None:
    raw = _text(ds, keyword, 16).split(".")[0]
    for fmt in ("%H%M%S", "%H%M", "%H"):
        try:
            return dt.datetime.strptime(raw, fmt).time()
        except ValueError:
            continue
    return None


def _age_years(ds: Dataset, birth: dt.date | None, study: dt.date | None) -> int | None:
    raw = _text(ds, "PatientAge", 4)  # AS: nnnD/W/M/Y
    if len(raw) == 4 and raw[:3].isdigit():
        number, unit = int(raw[:3]), raw[3].upper()
        divisor = {"Y": 1, "M": 12, "W": 52, "D": 365}.get(unit)
        if divisor:
            return number // divisor
    if birth and study and study >= birth:
        return study.year - birth.year - ((study.month, study.day) < (birth.month, birth.day))
    return None


# Every element ``parse_incoming`` reads. Their values are converted lazily by pydicom; a
# corrupt length can make one of them span the pixel data, and converting megabytes as a
# number or name list takes seconds, so their raw lengths are checked first.
HEADER_KEYWORDS: tuple[str, ...] = (
    "SOPClassUID", "SOPInstanceUID", "StudyInstanceUID", "SeriesInstanceUID",
    "AccessionNumber", "AdditionalPatientHistory", "BitsStored", "BodyPartExamined",
    "BurnedInAnnotation", "Columns", "ImageLaterality", "InstanceNumber", "IssuerOfPatientID",
    "LossyImageCompression", "Modality", "PatientAge", "PatientBirthDate", "PatientID",
    "PatientName", "PatientSex", "PhotometricInterpretation", "ReasonForTheRequestedProcedure",
    "ReferringPhysicianName", "RequestedProcedureDescription", "Rows", "SeriesDescription",
    "SeriesNumber", "StudyDate", "StudyTime", "ViewPosition", "ViewCodeSequence",
)  # fmt: skip
MAX_HEADER_VALUE_BYTES = 64 * 1024  # the longest kept value (history) is 10,240 characters


def _refuse_oversized_header(ds: Dataset) -> None:
    for keyword in HEADER_KEYWORDS:
        tag = tag_for_keyword(keyword)
        if tag is None or tag not in ds:
            continue
        element = ds.get_item(tag, keep_deferred=True)
        length = getattr(element, "length", 0)
        undefined = getattr(element, "is_undefined_length", False)
        if not undefined and length > MAX_HEADER_VALUE_BYTES:
            # 0xC000 Cannot understand: a header value no real instance has
            raise IngestRefused(
                StoreStatus.CANNOT_UNDERSTAND,
                f"{keyword} is {length} bytes long (at most {MAX_HEADER_VALUE_BYTES})",
            )


def parse_incoming(
    ds: Dataset, *, transfer_syntax_uid: str, affected_sop_class_uid: str, affected_sop_uid: str
) -> IncomingInstance:
    """Validate a decoded dataset and return its header values.

    ``affected_*`` are the UIDs of the C-STORE request itself; they must agree with the
    dataset. Raises ``IngestRefused`` with the status to answer.
    """
    if transfer_syntax_uid not in SUPPORTED_TRANSFER_SYNTAXES:
        raise IngestRefused(
            StoreStatus.UNSUPPORTED_TRANSFER_SYNTAX,
            f"transfer syntax {transfer_syntax_uid!r} is not supported",
        )
    try:
        _refuse_oversized_header(ds)
        return _parse_header(
            ds,
            transfer_syntax_uid=transfer_syntax_uid,
            affected_sop_class_uid=affected_sop_class_uid,
            affected_sop_uid=affected_sop_uid,
        )
    except IngestRefused:
        raise
    except Exception as exc:  # pydicom converts values lazily and raises many types
        # 0xC000 Cannot understand: a header element does not decode (wrong VR or length)
        raise IngestRefused(
            StoreStatus.CANNOT_UNDERSTAND, f"a header element cannot be decoded: {str(exc)[:200]}"
        ) from exc


def _parse_header(
    ds: Dataset, *, transfer_syntax_uid: str, affected_sop_class_uid: str, affected_sop_uid: str
) -> IncomingInstance:
    for keyword in ("SOPClassUID", "SOPInstanceUID", "StudyInstanceUID", "SeriesInstanceUID"):
        value = ds.get(keyword)
        if value is None or value == "":
            raise IngestRefused(StoreStatus.INVALID_UID, f"{keyword} is missing")
        if not uid_is_conformant(str(value)):
            raise IngestRefused(
                StoreStatus.INVALID_UID, f"{keyword} {str(value)[:80]!r} is not a conformant UID"
            )
    sop_class = str(ds.SOPClassUID)
    sop_uid = str(ds.SOPInstanceUID)
    if sop_class not in SUPPORTED_SOP_CLASSES:
        raise IngestRefused(
            StoreStatus.SOP_CLASS_NOT_SUPPORTED, f"SOP class {sop_class} is not stored here"
        )
    if sop_class != affected_sop_class_uid or sop_uid != affected_sop_uid:
        raise IngestRefused(
            StoreStatus.DATASET_DOES_NOT_MATCH_SOP_CLASS,
            "dataset SOP Class/Instance UID differ from the C-STORE request's",
        )
    if "PixelData" not in ds and sop_class not in RESULT_SOP_CLASSES:
        raise IngestRefused(
            StoreStatus.DATASET_DOES_NOT_MATCH_SOP_CLASS, "image storage without Pixel Data"
        )

    birth = _date(ds, "PatientBirthDate")
    study_date = _date(ds, "StudyDate")
    view_codes = ds.get("ViewCodeSequence")
    view_position = _text(ds, "ViewPosition", 16).upper()
    if not view_position and view_codes:
        view_position = _text(view_codes[0], "CodeMeaning", 16).upper()
    lossy = (
        transfer_syntax_uid in LOSSY_TRANSFER_SYNTAXES
        or _text(ds, "LossyImageCompression", 2) == "01"
    )
    return IncomingInstance(
        sop_class_uid=sop_class,
        sop_uid=sop_uid,
        study_uid=str(ds.StudyInstanceUID),
        series_uid=str(ds.SeriesInstanceUID),
        transfer_syntax_uid=transfer_syntax_uid,
        modality=_text(ds, "Modality", 16).upper(),
        patient_id=_text(ds, "PatientID", 64),
        issuer_of_patient_id=_text(ds, "IssuerOfPatientID", 64),
        patient_name=_text(ds, "PatientName", 324),
        patient_birth_date=birth,
        patient_sex=_text(ds, "PatientSex", 16).upper(),
        patient_age_years=_age_years(ds, birth, study_date),
        accession_number=_text(ds, "AccessionNumber", 16),
        study_date=study_date,
        study_time=_time(ds, "StudyTime"),
        study_description=_text(ds, "StudyDescription", 64),
        referring_physician=_text(ds, "ReferringPhysicianName", 324),
        series_number=_int(ds, "SeriesNumber"),
        series_description=_text(ds, "SeriesDescription", 64),
        body_part=_text(ds, "BodyPartExamined", 16).upper(),
        instance_number=_int(ds, "InstanceNumber"),
        rows=_int(ds, "Rows"),
        columns=_int(ds, "Columns"),
        bits_stored=_int(ds, "BitsStored"),
        photometric_interpretation=_text(ds, "PhotometricInterpretation", 16).upper(),
        view_position=view_position,
        image_laterality=_text(ds, "ImageLaterality", 1).upper(),
        burned_in_annotation=_text(ds, "BurnedInAnnotation", 3).upper(),
        indication=_text(ds, "ReasonForTheRequestedProcedure", 1024)
        or _text(ds, "RequestedProcedureDescription", 1024),
        history=_text(ds, "AdditionalPatientHistory", 10240),
        lossy=lossy,
    )
