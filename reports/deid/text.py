"""PHI in free text: which strings identify a patient, and replacing them with ``___``.

The identifying strings (:class:`PhiTerms`) come from the study's own records and DICOM
headers: names (every component), identifiers (patient id, MRN, accession...), phrases
(institution, addresses) and dates. :func:`phi_text_scrub` removes those, every date in any
common written form (not only the known ones) and ages over 89 (HIPAA Safe Harbor);
:func:`phi_text_find` says whether any known term is still there (the check after the DICOM
de-identification). Imports no Django.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import cached_property

from pydicom.dataelem import DataElement
from pydicom.dataset import Dataset
from pydicom.valuerep import PersonName

REDACTED = "___"

#: Name components shorter than this are not scrubbed on their own ("A", initials).
MIN_NAME_PART = 2
#: Identifiers shorter than this are not scrubbed (they would hit measurements: "12 mm").
MIN_IDENTIFIER = 3
#: Runs of this many digits inside an identifier are identifiers too ("MRN-7731942" ->
#: "7731942": the text may write the number without its prefix).
MIN_DIGIT_RUN = 5

#: DICOM keywords whose values identify the patient (searched in every nested sequence too).
IDENTIFIER_KEYWORDS = frozenset(
    {
        "PatientID",
        "OtherPatientIDs",
        "AccessionNumber",
        "StudyID",
        "AdmissionID",
        "ServiceEpisodeID",
        "MedicalRecordLocator",
        "PlacerOrderNumberImagingServiceRequest",
        "FillerOrderNumberImagingServiceRequest",
        "PlacerOrderNumberProcedure",
        "FillerOrderNumberProcedure",
        "RequestedProcedureID",
        "ScheduledProcedureStepID",
        "PerformedProcedureStepID",
        "PatientTelephoneNumbers",
    }
)
PHRASE_KEYWORDS = frozenset(
    {
        "InstitutionName",
        "InstitutionAddress",
        "InstitutionalDepartmentName",
        "PatientAddress",
        "ReferringPhysicianAddress",
        "StationName",
    }
)
_HONORIFICS = frozenset(
    {"dr", "mr", "mrs", "ms", "miss", "prof", "md", "phd", "jr", "sr", "ii", "iii"}
)
DATE_KEYWORDS = frozenset({"PatientBirthDate", "StudyDate", "SeriesDate", "AcquisitionDate"})

_MONTH = (
    r"(?:jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?"
    r"|sep(?:t(?:ember)?)?|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?)\.?"
)
# Without a year, "may" is too often the verb: year-less forms need another month name.
_MONTH_NOT_MAY = _MONTH.replace("|may|", "|")
_DAY = r"(?:0?[1-9]|[12]\d|3[01])(?:st|nd|rd|th)?"
_YEAR = r"(?:\d{4}|'?\d{2})"
_DATE_PATTERNS = (
    r"\b\d{4}[-/.]\d{1,2}[-/.]\d{1,2}\b",  # 2024-01-15, 2024/1/15
    r"\b\d{1,2}[-/.]\d{1,2}[-/.](?:\d{4}|\d{2})\b",  # 15/01/2024, 01-15-24, 15.01.2024
    rf"\b{_DAY}(?:\s+of)?[\s\-]+{_MONTH},?[\s\-]+{_YEAR}\b",  # 15 Jan 2024, 15-Jan-24
    rf"\b{_MONTH}\s+{_DAY},?\s+{_YEAR}\b",  # January 15, 2024
    rf"\b{_MONTH}\s+\d{{4}}\b",  # January 2024
    rf"\b{_DAY}\s+(?:of\s+)?{_MONTH_NOT_MAY}(?![a-z])",  # 15 Jan
    rf"\b{_MONTH_NOT_MAY}\s+{_DAY}\b",  # Jan 15
    r"\b(?:19|20)\d{2}(?:0[1-9]|1[0-2])(?:0[1-9]|[12]\d|3[01])\b",  # 20240115 (DICOM DA)
)
DATE_PATTERN = re.compile("|".join(f"(?:{p})" for p in _DATE_PATTERNS), re.IGNORECASE)
# Ages over 89 identify (HIPAA Safe Harbor groups them as 90 or older).
AGE_OVER_89 = re.compile(r"\b(?:9\d|1[0-4]\d)(?=[\s-]*(?:years?|yrs?|y/?o\b|-year))", re.IGNORECASE)


@dataclass(frozen=True)
class PhiTerms:
    """Strings that identify one patient and study; all tuples are of unique, stripped text."""

    names: tuple[str, ...] = ()  # single name components ("Jane", "Doe")
    identifiers: tuple[str, ...] = ()
    phrases: tuple[str, ...] = ()  # multi-word strings matched whole (institution...)
    dates: tuple[dt.date, ...] = field(default=())

    def merged(self, other: PhiTerms) -> PhiTerms:
        return PhiTerms(
            names=_unique((*self.names, *other.names)),
            identifiers=_unique((*self.identifiers, *other.identifiers)),
            phrases=_unique((*self.phrases, *other.phrases)),
            dates=tuple(dict.fromkeys((*self.dates, *other.dates))),
        )

    @cached_property
    def pattern(self) -> re.Pattern[str] | None:
        """One case-insensitive pattern of every term, longest first, whole words only.

        Dates match in the forms a header or report writes them (YYYYMMDD, ISO, d/m/Y...).
        """
        literals = [*self.phrases, *self.identifiers, *self.names]
        for day in self.dates:
            literals += [
                day.strftime("%Y%m%d"),
                day.isoformat(),
                day.strftime("%d/%m/%Y"),
                day.strftime("%m/%d/%Y"),
                day.strftime("%d.%m.%Y"),
            ]
        literals = sorted(set(literals), key=len, reverse=True)
        if not literals:
            return None
        alternatives = "|".join(r"\s+".join(map(re.escape, term.split())) for term in literals)
        return re.compile(rf"(?<![0-9A-Za-z])(?:{alternatives})(?![0-9A-Za-z])", re.IGNORECASE)


def _unique(values: Iterable[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(v for v in values if v))


def name_parts(name: str | PersonName) -> tuple[str, ...]:
    """The components of a DICOM person name (all groups: alphabetic, ideographic,
    phonetic), split on ``^``, ``=``, spaces and commas; honorifics ("Dr", "MD") left out."""
    parts = (p.strip(".") for p in re.split(r"[\^=\s,]+", str(name)))
    return _unique(p for p in parts if len(p) >= MIN_NAME_PART and p.casefold() not in _HONORIFICS)


def identifier_terms(value: str) -> tuple[str, ...]:
    value = value.strip()
    if len(value) < MIN_IDENTIFIER:
        return ()
    return _unique((value, *re.findall(rf"\d{{{MIN_DIGIT_RUN},}}", value)))


def phi_terms_build(
    *,
    names: Iterable[str] = (),
    identifiers: Iterable[str] = (),
    phrases: Iterable[str] = (),
    dates: Iterable[dt.date | None] = (),
) -> PhiTerms:
    """Terms from plain values (a patient's database record): names are split into parts."""
    return PhiTerms(
        names=_unique(part for name in names for part in name_parts(name)),
        identifiers=_unique(term for value in identifiers for term in identifier_terms(value)),
        phrases=_unique(p.strip() for p in phrases if len(p.strip()) >= MIN_IDENTIFIER),
        dates=tuple(dict.fromkeys(d for d in dates if d is not None)),
    )


def phi_terms_from_dataset(ds: Dataset) -> PhiTerms:
    """Every identifying string in a dataset, nested sequences and private blocks included:
    all person names, the identifier and phrase elements, and the patient's dates."""
    names: list[str] = []
    identifiers: list[str] = []
    phrases: list[str] = []
    dates: list[dt.date | None] = []

    def collect(_: Dataset, element: DataElement) -> None:
        values = _strings(element)
        if element.VR == "PN":
            names.extend(values)
        elif element.keyword in IDENTIFIER_KEYWORDS:
            identifiers.extend(values)
        elif element.keyword in PHRASE_KEYWORDS:
            phrases.extend(values)
        elif element.keyword in DATE_KEYWORDS:
            dates.extend(_date(v) for v in values)

    ds.walk(collect)
    return phi_terms_build(names=names, identifiers=identifiers, phrases=phrases, dates=dates)


def _strings(element: DataElement) -> list[str]:
    value = element.value
    if element.VR == "SQ" or value is None or isinstance(value, bytes | bytearray):
        return []
    if isinstance(value, str | PersonName):
        return [str(value)]
    try:
        return [str(v) for v in value]
    except TypeError:
        return [str(value)]


def _date(value: str) -> dt.date | None:
    try:
        return dt.datetime.strptime(value.strip().replace(".", ""), "%Y%m%d").date()
    except ValueError:
        return None


def phi_text_scrub(text: str, *, terms: PhiTerms) -> str:
    """``text`` with every date, age over 89 and known PHI term replaced by ``___``."""
    scrubbed = DATE_PATTERN.sub(REDACTED, text)
    scrubbed = AGE_OVER_89.sub(REDACTED, scrubbed)
    if terms.pattern is not None:
        scrubbed = terms.pattern.sub(REDACTED, scrubbed)
    return scrubbed


def phi_text_find(text: str, *, terms: PhiTerms) -> bool:
    """Whether any known term (not any date: only the known ones) occurs in ``text``."""
    return terms.pattern is not None and terms.pattern.search(text) is not None
