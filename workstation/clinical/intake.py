"""The shape every intake path (DICOM header, FHIR, HL7 v2, the form) produces before anything
is stored, and the checks they share. Django-free apart from the enums of ``models``.

Parsing builds a complete list of :class:`ValueIn` first and raises :class:`IntakeError` on
the first bad part; only a fully parsed message reaches ``services.clinical_values_record``,
which stores it in one transaction. So a bad message stores nothing.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from django.utils import timezone

from workstation.clinical.codes import CodeDef, UnitError, abnormal_flag, to_catalogue_unit
from workstation.clinical.models import ValueKind


class IntakeError(ValueError):
    """A message (or one part of it) cannot be stored; ``where`` names the part, e.g.
    ``entry[2].Observation.valueQuantity`` or ``OBX[3]-6``."""

    def __init__(self, where: str, message: str) -> None:
        super().__init__(f"{where}: {message}")
        self.where = where
        self.message = message


@dataclass(frozen=True)
class PatientRef:
    """A patient as a message identifies them: identifier plus issuer (the DICOM
    IssuerOfPatientID), and the demographics it carries, if any."""

    patient_id: str
    issuer: str = ""
    name: str = ""
    birth_date: dt.date | None = None
    sex: str = ""  # "M", "F", "O" or ""


OID_PREFIX: Final = "urn:oid:"


def _system_key(system: str) -> str:
    """An identifier system compared without case in its ``urn:oid:`` prefix, so an OID
    matches written either way (FHIR ``urn:oid:1.2.3``, HL7 v2 ``1.2.3`` with type ISO)."""
    system = system.strip()
    return system[len(OID_PREFIX) :] if system.lower().startswith(OID_PREFIX) else system


@dataclass(frozen=True)
class IdentifierSystems:
    """Which DICOM IssuerOfPatientID (0010,0021) each sender's identifier namespace stands
    for (``settings.CLINICAL_IDENTIFIER_SYSTEMS``): keys are FHIR ``Identifier.system`` URIs
    or ``urn:oid:<oid>`` (an OID matches with or without the prefix); values the issuer the
    studies carry ("" for a site whose studies carry none)."""

    issuers: Mapping[str, str] = field(default_factory=dict)

    def mapped(self, system: str) -> str | None:
        """The issuer ``system`` maps to, or ``None`` when it is not configured."""
        key = _system_key(system)
        if not key:
            return None
        for known, issuer in self.issuers.items():
            if _system_key(known) == key:
                return issuer
        return None

    def issuer(self, *, system: str, assigner: str, where: str) -> str:
        """The DICOM issuer of an identifier with ``system`` (may be "") and the issuer name
        its sender gave (FHIR ``assigner.display``, HL7 HD.1 namespace id; may be "").

        A configured system gives its issuer; no system falls back to the assigner name (""
        when none); a system not configured is taken by the assigner name it comes with.
        Raises ``IntakeError`` at ``where`` for a system not configured and no assigner: the
        identifier's issuer is then unknown, and guessing could link the values to another
        hospital's patient with the same identifier.
        """
        issuer = self.mapped(system)
        if issuer is not None:
            return issuer
        if not system.strip() or assigner.strip():
            return assigner.strip()
        raise IntakeError(
            where,
            f"identifier system {system.strip()!r} is not mapped to a DICOM issuer "
            "(IssuerOfPatientID): add it to CLINICAL_IDENTIFIER_SYSTEMS or name the issuer "
            "in the identifier's assigner; nothing was stored",
        )


@dataclass(frozen=True)
class ValueIn:
    """One value ready to store (numbers already in the catalogue's UCUM unit)."""

    patient: PatientRef
    kind: ValueKind
    code: str
    display: str
    observed_at: dt.datetime  # timezone-aware
    value_number: float | None = None
    value_text: str = ""
    unit: str = ""
    coding_system: str = ""
    coding_code: str = ""
    reference_low: float | None = None
    reference_high: float | None = None
    abnormal_flag: str = ""
    accession_number: str = ""
    source_ref: str = ""


def aware(value: dt.datetime | dt.date) -> dt.datetime:
    """A timezone-aware datetime; naive values and dates are in the server's time zone."""
    if not isinstance(value, dt.datetime):
        value = dt.datetime.combine(value, dt.time())
    return value if timezone.is_aware(value) else timezone.make_aware(value)


@dataclass(frozen=True)
class Quantity:
    """A measured number as the message gave it, before conversion."""

    value: float
    unit: str
    low: float | None = None
    high: float | None = None
    flag: str = ""


def converted(code: CodeDef, quantity: Quantity, where: str) -> dict[str, Any]:
    """The stored fields of a catalogue measurement: value and range in the catalogue unit,
    and the abnormal flag (the sender's, else computed from the range). Raises
    ``IntakeError`` for a unit that cannot be converted."""
    try:
        value = to_catalogue_unit(code, quantity.value, quantity.unit)
        low = None if quantity.low is None else to_catalogue_unit(code, quantity.low, quantity.unit)
        high = (
            None if quantity.high is None else to_catalogue_unit(code, quantity.high, quantity.unit)
        )
    except UnitError as exc:
        raise IntakeError(where, str(exc)) from exc
    flag = quantity.flag.strip().upper()[:4] or abnormal_flag(code, value, low, high)
    return {
        "value_number": round(value, 4),
        "unit": code.unit,
        "reference_low": low,
        "reference_high": high,
        "abnormal_flag": flag,
    }
