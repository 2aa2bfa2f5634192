"""Attribute matching over the study database, shared by QIDO-RS and C-FIND.

One table (:data:`ATTRIBUTES`) says which DICOM attributes can be matched and returned at each
query level, where each lives in the database and how it matches (PS3.4 C.2.2.2: single value,
UID list, wildcard ``*``/``?``, date and time ranges, universal matching). A search returns
pydicom ``Dataset`` rows; the caller shapes them (DICOM JSON, C-FIND identifiers). Bad keys or
values raise :class:`QueryError` with a message fit for the requester.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from django.db.models import Count, Model, Q, QuerySet
from pydicom.datadict import dictionary_VR, keyword_for_tag, tag_for_keyword
from pydicom.dataset import Dataset

from workstation.dicom.ingest import uid_is_conformant
from workstation.studies.models import Instance, Patient, Series, Study


class QueryError(ValueError):
    """An unknown attribute, a value that cannot match (bad date range, bad UID), a bad level."""


class QueryLevel(StrEnum):
    PATIENT = "PATIENT"
    STUDY = "STUDY"
    SERIES = "SERIES"
    IMAGE = "IMAGE"


_DEPTH = {QueryLevel.PATIENT: 0, QueryLevel.STUDY: 1, QueryLevel.SERIES: 2, QueryLevel.IMAGE: 3}
# ORM path from a level's model up to each higher level's model.
_UP: dict[tuple[QueryLevel, QueryLevel], str] = {
    (QueryLevel.STUDY, QueryLevel.PATIENT): "patient",
    (QueryLevel.SERIES, QueryLevel.STUDY): "study",
    (QueryLevel.SERIES, QueryLevel.PATIENT): "study__patient",
    (QueryLevel.IMAGE, QueryLevel.SERIES): "series",
    (QueryLevel.IMAGE, QueryLevel.STUDY): "series__study",
    (QueryLevel.IMAGE, QueryLevel.PATIENT): "series__study__patient",
}
_MODELS: dict[QueryLevel, type[Model]] = {
    QueryLevel.PATIENT: Patient,
    QueryLevel.STUDY: Study,
    QueryLevel.SERIES: Series,
    QueryLevel.IMAGE: Instance,
}
_ORDER = {
    QueryLevel.PATIENT: ("patient_id", "pk"),
    QueryLevel.STUDY: ("-study_date", "-study_time", "-pk"),
    QueryLevel.SERIES: ("series_number", "pk"),
    QueryLevel.IMAGE: ("instance_number", "pk"),
}


class Match(StrEnum):
    UID = "uid"  # single UID or a list (backslash or comma separated)
    TEXT = "text"  # exact or wildcard, case-sensitive (SH, LO, CS)
    NAME = "name"  # exact or wildcard, case-insensitive (PN)
    DATE = "date"  # DA, single or range
    TIME = "time"  # TM, single or range
    INTEGER = "integer"  # IS/US, exact
    NONE = "none"  # returned, never matched on (counts, derived values)


def _age(years: int | None) -> str | None:
    return f"{years:03d}Y" if years is not None else None


@dataclass(frozen=True)
class Attribute:
    keyword: str
    level: QueryLevel
    field: str  # ORM field on the level's model ("" when the value is derived)
    match: Match
    default: bool = True  # returned without includefield at its own level
    own_level_only: bool = False  # a count: only rows of its own level carry it
    derive: Callable[[Any], Any] | None = None  # value from the row (when not a plain field)

    @property
    def tag(self) -> str:
        return f"{tag_for_keyword(self.keyword):08X}"


ATTRIBUTES: tuple[Attribute, ...] = (
    Attribute("PatientName", QueryLevel.PATIENT, "name", Match.NAME),
    Attribute("PatientID", QueryLevel.PATIENT, "patient_id", Match.TEXT),
    Attribute("IssuerOfPatientID", QueryLevel.PATIENT, "issuer", Match.TEXT),
    Attribute("PatientBirthDate", QueryLevel.PATIENT, "birth_date", Match.DATE),
    Attribute("PatientSex", QueryLevel.PATIENT, "sex", Match.TEXT),
    Attribute(
        "NumberOfPatientRelatedStudies",
        QueryLevel.PATIENT,
        "",
        Match.NONE,
        default=False,
        own_level_only=True,
        derive=lambda p: p.n_studies,
    ),
    Attribute("StudyInstanceUID", QueryLevel.STUDY, "study_uid", Match.UID),
    Attribute("StudyDate", QueryLevel.STUDY, "study_date", Match.DATE),
    Attribute("StudyTime", QueryLevel.STUDY, "study_time", Match.TIME),
    Attribute("AccessionNumber", QueryLevel.STUDY, "accession_number", Match.TEXT),
    Attribute("ModalitiesInStudy", QueryLevel.STUDY, "series__modality", Match.TEXT),
    Attribute("ReferringPhysicianName", QueryLevel.STUDY, "referring_physician", Match.NAME),
    Attribute("StudyDescription", QueryLevel.STUDY, "description", Match.TEXT),
    # Not kept by the ingest: returned empty; only universal matching can match it.
    Attribute("StudyID", QueryLevel.STUDY, "", Match.NONE, derive=lambda s: ""),
    Attribute(
        "PatientAge", QueryLevel.STUDY, "", Match.NONE, derive=lambda s: _age(s.patient_age_years)
    ),
    Attribute(
        "NumberOfStudyRelatedSeries",
        QueryLevel.STUDY,
        "",
        Match.NONE,
        own_level_only=True,
        derive=lambda s: s.n_series,
    ),
    Attribute(
        "NumberOfStudyRelatedInstances",
        QueryLevel.STUDY,
        "",
        Match.NONE,
        own_level_only=True,
        derive=lambda s: s.n_instances,
    ),
    Attribute("SeriesInstanceUID", QueryLevel.SERIES, "series_uid", Match.UID),
    Attribute("Modality", QueryLevel.SERIES, "modality", Match.TEXT),
    Attribute("SeriesNumber", QueryLevel.SERIES, "series_number", Match.INTEGER),
    Attribute("SeriesDescription", QueryLevel.SERIES, "description", Match.TEXT),
    Attribute("BodyPartExamined", QueryLevel.SERIES, "body_part", Match.TEXT),
    Attribute(
        "NumberOfSeriesRelatedInstances",
        QueryLevel.SERIES,
        "",
        Match.NONE,
        own_level_only=True,
        derive=lambda s: s.n_instances,
    ),
    Attribute("SOPInstanceUID", QueryLevel.IMAGE, "sop_uid", Match.UID),
    Attribute("SOPClassUID", QueryLevel.IMAGE, "sop_class_uid", Match.UID),
    Attribute("InstanceNumber", QueryLevel.IMAGE, "instance_number", Match.INTEGER),
    Attribute("Rows", QueryLevel.IMAGE, "rows", Match.INTEGER),
    Attribute("Columns", QueryLevel.IMAGE, "columns", Match.INTEGER),
    Attribute("BitsStored", QueryLevel.IMAGE, "bits_stored", Match.INTEGER, default=False),
    Attribute(
        "PhotometricInterpretation", QueryLevel.IMAGE, "photometric_interpretation", Match.TEXT
    ),
    Attribute("ViewPosition", QueryLevel.IMAGE, "view_position", Match.TEXT),
    Attribute("ImageLaterality", QueryLevel.IMAGE, "image_laterality", Match.TEXT, default=False),
    Attribute("AvailableTransferSyntaxUID", QueryLevel.IMAGE, "transfer_syntax_uid", Match.UID),
)
BY_KEYWORD: Mapping[str, Attribute] = {a.keyword: a for a in ATTRIBUTES}
# Always returned where available: they identify the row and its parents.
_IDENTIFYING = frozenset({"StudyInstanceUID", "SeriesInstanceUID", "SOPInstanceUID", "SOPClassUID"})
# Keys a C-FIND identifier or QIDO query may carry that are not attributes of the data.
CONTROL_KEYWORDS = frozenset(
    {"QueryRetrieveLevel", "SpecificCharacterSet", "RetrieveAETitle", "InstanceAvailability"}
)


def attribute_keyword(key: str) -> str:
    """``key`` (a keyword like ``PatientID`` or a tag like ``00100020``) as a keyword.

    Raises ``QueryError`` for anything that is not a DICOM attribute.
    """
    key = key.strip()
    if re.fullmatch(r"[0-9A-Fa-f]{8}", key):
        keyword = keyword_for_tag(int(key, 16))
        if keyword:
            return keyword
        raise QueryError(f"{key} is not a known DICOM attribute tag")
    if tag_for_keyword(key) is None:
        raise QueryError(f"{key!r} is not a DICOM attribute keyword or tag")
    return key


def _path(attribute: Attribute, level: QueryLevel) -> str:
    if attribute.level == level:
        return attribute.field
    return f"{_UP[(level, attribute.level)]}__{attribute.field}"


def _wildcard_regex(value: str) -> str:
    parts = [".*" if c == "*" else "." if c == "?" else re.escape(c) for c in value]
    return "^" + "".join(parts) + "$"


def _parse_date(text: str) -> dt.date:
    try:
        return dt.datetime.strptime(text, "%Y%m%d").date()
    except ValueError:
        raise QueryError(f"{text!r} is not a date (YYYYMMDD)") from None


def _parse_time(text: str) -> dt.time:
    base = text.split(".")[0]
    for fmt in ("%H%M%S", "%H%M", "%H"):
        try:
            return dt.datetime.strptime(base, fmt).time()
        except ValueError:
            continue
    raise QueryError(f"{text!r} is not a time (HHMMSS)")


def _range(path: str, value: str, parse: Callable[[str], Any], keyword: str) -> Q:
    if "-" not in value:
        return Q(**{path: parse(value)})
    low_text, _, high_text = value.partition("-")
    if not low_text and not high_text:
        raise QueryError(f"{keyword}: a range needs at least one end")
    low = parse(low_text) if low_text else None
    high = parse(high_text) if high_text else None
    if low is not None and high is not None and low > high:
        raise QueryError(f"{keyword}: range {value!r} ends before it starts")
    condition = Q()
    if low is not None:
        condition &= Q(**{f"{path}__gte": low})
    if high is not None:
        condition &= Q(**{f"{path}__lte": high})
    return condition


def _condition(attribute: Attribute, level: QueryLevel, value: str) -> Q | None:
    """The filter for one key; ``None`` for universal matching (empty value or ``*``)."""
    value = value.strip()
    if value in ("", "*"):
        return None
    if attribute.match is Match.NONE:
        raise QueryError(f"{attribute.keyword} can be returned but not matched on")
    path = _path(attribute, level)
    if attribute.match is Match.UID:
        uids = [u.strip() for u in re.split(r"[\\,]", value) if u.strip()]
        bad = [u for u in uids if not uid_is_conformant(u)]
        if bad:
            raise QueryError(f"{attribute.keyword}: {bad[0][:64]!r} is not a valid UID")
        return Q(**{f"{path}__in": uids})
    if attribute.match is Match.DATE:
        return _range(path, value, _parse_date, attribute.keyword)
    if attribute.match is Match.TIME:
        return _range(path, value, _parse_time, attribute.keyword)
    if attribute.match is Match.INTEGER:
        try:
            return Q(**{path: int(value)})
        except ValueError:
            raise QueryError(f"{attribute.keyword}: {value!r} is not an integer") from None
    # Text and person names: a backslash or comma list matches any of its values.
    condition = Q()
    for item in (v for v in re.split(r"[\\,]", value) if v):
        if "*" in item or "?" in item:
            lookup = "iregex" if attribute.match is Match.NAME else "regex"
            condition |= Q(**{f"{path}__{lookup}": _wildcard_regex(item)})
        else:
            lookup = "iexact" if attribute.match is Match.NAME else "exact"
            condition |= Q(**{f"{path}__{lookup}": item})
    return condition


@dataclass(frozen=True)
class SearchResult:
    rows: list[Dataset]
    truncated: bool  # more matches exist beyond ``limit``


def _annotated(level: QueryLevel) -> QuerySet[Any]:
    model = _MODELS[level]
    queryset: QuerySet[Any] = model._default_manager.all()
    if level is QueryLevel.PATIENT:
        return queryset.annotate(n_studies=Count("studies", distinct=True))
    if level is QueryLevel.STUDY:
        return queryset.select_related("patient").annotate(
            n_series=Count("series", distinct=True),
            n_instances=Count("series__instances", distinct=True),
        )
    if level is QueryLevel.SERIES:
        return queryset.select_related("study__patient").annotate(
            n_instances=Count("instances", distinct=True)
        )
    return queryset.select_related("series__study__patient")


def _object_at(row: Any, row_level: QueryLevel, level: QueryLevel) -> Any:
    if row_level == level:
        return row
    target = row
    for step in _UP[(row_level, level)].split("__"):
        target = getattr(target, step)
    return target


def _value(attribute: Attribute, row: Any, row_level: QueryLevel) -> Any:
    owner = _object_at(row, row_level, attribute.level)
    if attribute.derive is not None:
        return attribute.derive(owner)
    if attribute.keyword == "ModalitiesInStudy":
        return [m for m in owner.modalities.split("\\") if m]
    value = getattr(owner, attribute.field)
    if isinstance(value, dt.date):
        return value.strftime("%Y%m%d")
    if isinstance(value, dt.time):
        return value.strftime("%H%M%S")
    return value


def _set(ds: Dataset, keyword: str, value: Any) -> None:
    if value is None or value == "" or value == []:
        setattr(ds, keyword, None)  # present, empty: "no value known"
        return
    if dictionary_VR(keyword) in ("IS",) and isinstance(value, int):
        value = str(value)
    setattr(ds, keyword, value)


def returnable(level: QueryLevel) -> list[Attribute]:
    """Attributes a row at ``level`` can carry: its own and those of the levels above."""
    return [
        a
        for a in ATTRIBUTES
        if a.level == level or (_DEPTH[a.level] < _DEPTH[level] and not a.own_level_only)
    ]


def matching(
    *,
    level: QueryLevel,
    keys: Mapping[str, str],
    queryset: QuerySet[Any] | None = None,
    within: Q | None = None,
) -> QuerySet[Any]:
    """The rows at ``level`` (``queryset`` or all) matching every key. Raises ``QueryError``."""
    available = {a.keyword: a for a in returnable(level)}
    if queryset is None:
        queryset = _MODELS[level]._default_manager.all()
    if within is not None:
        queryset = queryset.filter(within)
    distinct = False
    for keyword, value in keys.items():
        if keyword in CONTROL_KEYWORDS:
            continue
        attribute = available.get(keyword)
        if attribute is None:
            raise QueryError(f"{keyword} cannot be matched at the {level} level")
        condition = _condition(attribute, level, value)
        if condition is not None:
            queryset = queryset.filter(condition)
            distinct = distinct or "series__" in _path(attribute, level)
    return queryset.distinct() if distinct else queryset


def search(
    *,
    level: QueryLevel,
    keys: Mapping[str, str],
    include: Iterable[str] | None,
    limit: int,
    offset: int = 0,
    within: Q | None = None,
) -> SearchResult:
    """Rows at ``level`` matching every key of ``keys`` (keyword -> DICOM string value).

    ``include`` names further attributes to return (``None``: every returnable one); the
    matched keys, the level's default attributes and the UIDs above it are always returned.
    ``within`` narrows the rows (access scope, the study/series of the URL). At most ``limit``
    rows from ``offset`` are returned; ``truncated`` says more matched. Raises ``QueryError``.
    """
    available = {a.keyword: a for a in returnable(level)}
    queryset = matching(level=level, keys=keys, queryset=_annotated(level), within=within)
    # PS3.18 Table 6.7.1-2: a study's default attributes include its patient's.
    own = {level, QueryLevel.PATIENT} if level is QueryLevel.STUDY else {level}
    wanted = {a.keyword for a in available.values() if a.level in own and a.default}
    wanted |= _IDENTIFYING & set(available)
    wanted |= {k for k in keys if k in available}
    if include is None:
        wanted = set(available)
    else:
        for keyword in include:
            if keyword in available:
                wanted.add(keyword)
    rows = list(queryset.order_by(*_ORDER[level])[offset : offset + limit + 1])
    result = []
    for row in rows[:limit]:
        ds = Dataset()
        ds.SpecificCharacterSet = "ISO_IR 192"
        for attribute in ATTRIBUTES:
            if attribute.keyword in wanted:
                _set(ds, attribute.keyword, _value(attribute, row, level))
        result.append(ds)
    return SearchResult(rows=result, truncated=len(rows) > limit)
