"""HL7 v2 intake: ORM^O01 (orders: reason for study, clinical information, notes, diagnoses)
and ORU^R01 (results: labs, vital signs, smoking status), parsed with python-hl7, answered with
an original-mode ACK.

Acknowledgement codes (HL7 table 0008): ``AA`` stored; ``AR`` rejected as a message (not HL7,
a message type other than ORM^O01 / ORU^R01, no MSH-10): resending it unchanged will not
help; ``AE`` an error in its content (a unit that cannot be converted, no patient id, no time,
a value that is not a number) or the database was unavailable. MSA-3 and ERR-8 carry the
reason, naming the segment and field (``OBX[2]-6``). Nothing of a NACKed message is stored.

Field choices (IHE radiology conventions): patient PID-3 (id; component 4, the assigning
authority, gives the issuer: its universal id (HD.2, an OID when HD.3 is ``ISO``) through
``CLINICAL_IDENTIFIER_SYSTEMS`` like a FHIR identifier system, else its namespace id (HD.1);
of repeated PID-3 identifiers the first with a configured universal id, else the first); accession
OBR-18, else OBR-3; indication OBR-31; clinical information OBR-13 and NTE; diagnoses DG1-4
(else DG1-3 text); OBX-3 LOINC (``LN``) or a local alias (``CRP``), OBX-5 value, OBX-6 unit
(UCUM), OBX-7 range ``low-high``, OBX-8 flag, OBX-11 status (``X``/``D`` are skipped and
said so), OBX-14 time, else OBR-7, else MSH-7.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass, field
from typing import Any

import hl7
from django.db import DatabaseError
from hl7.exceptions import HL7Exception

from workstation.clinical.codes import CATALOGUE, OTHER, CodeDef, by_alias, by_loinc
from workstation.clinical.intake import (
    OID_PREFIX,
    IdentifierSystems,
    IntakeError,
    PatientRef,
    Quantity,
    ValueIn,
    aware,
    converted,
)
from workstation.clinical.models import ValueKind, ValueSource
from workstation.clinical.selectors import identifier_systems_get
from workstation.clinical.services import clinical_values_record

logger = logging.getLogger(__name__)

ACCEPTED_MESSAGES = (("ORM", "O01"), ("ORU", "R01"))
SKIPPED_RESULT_STATUSES = frozenset({"X", "D", "W"})  # cannot obtain / deleted / wrong
_SEX = {"M": "M", "F": "F", "O": "O", "U": ""}


class Hl7Rejected(Exception):
    """The message is not one this listener takes (answered AR); ``error`` is its HL7
    table 0357 code."""

    def __init__(self, error: str, message: str) -> None:
        super().__init__(message)
        self.error = error


# HL7 table 0357 (message error condition codes) as sent in ERR-3.
SEGMENT_SEQUENCE_ERROR = "100^Segment sequence error^HL70357"
REQUIRED_FIELD_MISSING = "101^Required field missing^HL70357"
DATA_TYPE_ERROR = "102^Data type error^HL70357"
UNSUPPORTED_MESSAGE_TYPE = "200^Unsupported message type^HL70357"
APPLICATION_ERROR = "207^Application internal error^HL70357"


@dataclass
class Hl7Intake:
    message_type: str  # "ORU^R01"
    control_id: str
    patient: PatientRef
    values: list[ValueIn] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)


def _get(
    msg: Any,
    segment: str,
    occurrence: int,
    fld: int,
    component: int = 1,
    repeat: int = 1,
    subcomponent: int = 1,
) -> str:
    try:
        value = msg.extract_field(segment, occurrence, fld, repeat, component, subcomponent)
    except (IndexError, KeyError):
        return ""
    return str(value or "").strip()


def _time(raw: str, where: str) -> dt.datetime | None:
    if not raw:
        return None
    try:
        return aware(hl7.parse_datetime(raw))
    except (ValueError, TypeError) as exc:
        raise IntakeError(
            where, f"{raw!r} is not an HL7 date/time (YYYYMMDDHHMM[SS][+ZZZZ])"
        ) from exc


def _float(raw: str, where: str) -> float:
    try:
        return float(raw)
    except ValueError:
        raise IntakeError(where, f"{raw!r} is not a number") from None


def _range(raw: str, where: str) -> tuple[float | None, float | None]:
    raw = raw.strip()
    if not raw:
        return None, None
    if raw.startswith(("<", ">")):
        number = _float(raw.lstrip("<>= "), where)
        return (None, number) if raw.startswith("<") else (number, None)
    low, sep, high = raw.partition("-")
    if not sep:
        raise IntakeError(where, f"{raw!r} is not a range (low-high, <high or >low)")
    return _float(low, where), _float(high, where)


MAX_PID3_REPEATS = 10


def _authority_system(msg: Any, repeat: int) -> str:
    """PID-3.4's universal id as an identifier system (``urn:oid:`` for type ISO)."""
    universal = _get(msg, "PID", 1, 3, 4, repeat, 2)
    if not universal:
        return ""
    is_oid = _get(msg, "PID", 1, 3, 4, repeat, 3).upper() == "ISO"
    return f"{OID_PREFIX}{universal}" if is_oid else universal


def _patient(msg: Any, systems: IdentifierSystems) -> PatientRef:
    repeats = [r for r in range(1, MAX_PID3_REPEATS + 1) if _get(msg, "PID", 1, 3, 1, r)]
    if not repeats:
        raise IntakeError("PID-3", "missing patient identifier")
    repeat = next(
        (r for r in repeats if systems.mapped(_authority_system(msg, r)) is not None), repeats[0]
    )
    patient_id = _get(msg, "PID", 1, 3, 1, repeat)
    issuer = systems.issuer(
        system=_authority_system(msg, repeat),
        assigner=_get(msg, "PID", 1, 3, 4, repeat, 1),
        where="PID-3.4" if repeat == 1 else f"PID-3[{repeat}].4",
    )
    birth_raw = _get(msg, "PID", 1, 7)
    birth = None
    if birth_raw:
        try:
            birth = dt.datetime.strptime(birth_raw[:8], "%Y%m%d").date()
        except ValueError:
            raise IntakeError("PID-7", f"{birth_raw!r} is not a date (YYYYMMDD)") from None
    name = "^".join(filter(None, (_get(msg, "PID", 1, 5, 1), _get(msg, "PID", 1, 5, 2))))
    return PatientRef(
        patient_id[:64],
        issuer[:64],
        name[:324],
        birth,
        _SEX.get(_get(msg, "PID", 1, 8).upper(), ""),
    )


def _segments(msg: Any, name: str) -> list[Any]:
    try:
        return list(msg.segments(name))
    except KeyError:
        return []


def _code_def(msg: Any, index: int) -> CodeDef | None:
    code, text, system = (_get(msg, "OBX", index, 3, c) for c in (1, 2, 3))
    if system.upper() == "LN":
        found = by_loinc(code)
        if found:
            return found
    return by_alias(code) or (by_alias(text) if text else None)


def _observations(msg: Any, intake: Hl7Intake, fallback: dt.datetime, accession: str) -> None:
    for index in range(1, len(_segments(msg, "OBX")) + 1):
        where = f"OBX[{index}]"
        status = _get(msg, "OBX", index, 11).upper()
        if status in SKIPPED_RESULT_STATUSES:
            intake.skipped.append(f"{where}: result status {status}")
            continue
        value_type = _get(msg, "OBX", index, 2).upper()
        raw = _get(msg, "OBX", index, 5)
        if not raw:
            raise IntakeError(f"{where}-5", "no value")
        code_def = _code_def(msg, index)
        when = _time(_get(msg, "OBX", index, 14), f"{where}-14") or fallback
        common: dict[str, Any] = {
            "patient": intake.patient,
            "kind": ValueKind.OBSERVATION,
            "observed_at": when,
            "accession_number": accession,
            "coding_system": _get(msg, "OBX", index, 3, 3),
            "coding_code": _get(msg, "OBX", index, 3, 1),
            "source_ref": f"{intake.control_id}:OBX{_get(msg, 'OBX', index, 1) or index}",
        }
        if code_def is not None and code_def.key == "smoking_status":
            text = (
                raw if value_type not in ("CE", "CWE") else (_get(msg, "OBX", index, 5, 1) or raw)
            )
            intake.values.append(
                ValueIn(code=code_def.key, display=code_def.display, value_text=text, **common)
            )
            continue
        if code_def is not None and code_def.unit:
            low, high = _range(_get(msg, "OBX", index, 7), f"{where}-7")
            quantity = Quantity(
                _float(raw, f"{where}-5"),
                _get(msg, "OBX", index, 6),
                low,
                high,
                _get(msg, "OBX", index, 8),
            )
            stored = converted(code_def, quantity, f"{where}-6")
            intake.values.append(
                ValueIn(code=code_def.key, display=code_def.display, **common, **stored)
            )
            continue
        display = _get(msg, "OBX", index, 3, 2) or _get(msg, "OBX", index, 3, 1) or "observation"
        if value_type in ("NM", "SN"):
            intake.values.append(
                ValueIn(
                    code=OTHER,
                    display=display,
                    value_number=_float(raw, f"{where}-5"),
                    unit=_get(msg, "OBX", index, 6),
                    **common,
                )
            )
        else:
            intake.values.append(ValueIn(code=OTHER, display=display, value_text=raw, **common))


def _order(msg: Any, intake: Hl7Intake, when: dt.datetime, accession: str) -> None:
    common: dict[str, Any] = {
        "patient": intake.patient,
        "observed_at": when,
        "accession_number": accession,
        "source_ref": f"{intake.control_id}:OBR",
    }
    reason = _get(msg, "OBR", 1, 31, 2) or _get(msg, "OBR", 1, 31, 1)
    if reason:
        intake.values.append(
            ValueIn(
                kind=ValueKind.REQUEST,
                code="indication",
                display=CATALOGUE["indication"].display,
                value_text=reason,
                **common,
            )
        )
    notes = [_get(msg, "OBR", 1, 13)] + [
        _get(msg, "NTE", i, 3) for i in range(1, len(_segments(msg, "NTE")) + 1)
    ]
    history = " ".join(n for n in notes if n)
    if history:
        intake.values.append(
            ValueIn(
                kind=ValueKind.REQUEST,
                code="history",
                display=CATALOGUE["history"].display,
                value_text=history,
                **common,
            )
        )
    procedure = _get(msg, "OBR", 1, 4, 2) or _get(msg, "OBR", 1, 4, 1)
    if procedure:
        intake.values.append(
            ValueIn(
                kind=ValueKind.REQUEST,
                code="requested_procedure",
                display=CATALOGUE["requested_procedure"].display,
                value_text=procedure,
                **common,
            )
        )
    for index in range(1, len(_segments(msg, "DG1")) + 1):
        text = _get(msg, "DG1", index, 4) or _get(msg, "DG1", index, 3, 2)
        if text:
            intake.values.append(
                ValueIn(
                    kind=ValueKind.CONDITION,
                    code="condition",
                    display="Known condition",
                    value_text=text,
                    coding_system=_get(msg, "DG1", index, 3, 3),
                    coding_code=_get(msg, "DG1", index, 3, 1),
                    patient=intake.patient,
                    observed_at=when,
                    accession_number=accession,
                    source_ref=f"{intake.control_id}:DG1{index}",
                )
            )


def hl7_parse(text: str, *, systems: IdentifierSystems | None = None) -> Hl7Intake:
    """Parse an ORM^O01 or ORU^R01 completely, matching the patient through ``systems``
    (none configured when omitted). Raises ``Hl7Rejected`` or ``IntakeError``."""
    try:
        msg = hl7.parse(text)
        msg.segment("MSH")
    except (HL7Exception, KeyError, IndexError, ValueError) as exc:
        raise Hl7Rejected(SEGMENT_SEQUENCE_ERROR, f"not an HL7 v2 message: {exc}") from exc
    kind = (_get(msg, "MSH", 1, 9, 1).upper(), _get(msg, "MSH", 1, 9, 2).upper())
    if kind not in ACCEPTED_MESSAGES:
        accepted = ", ".join("^".join(k) for k in ACCEPTED_MESSAGES)
        raise Hl7Rejected(
            UNSUPPORTED_MESSAGE_TYPE,
            f"MSH-9 {'^'.join(kind)} is not accepted (accepted: {accepted})",
        )
    control_id = _get(msg, "MSH", 1, 10)
    if not control_id:
        raise Hl7Rejected(REQUIRED_FIELD_MISSING, "MSH-10 (message control id) is missing")
    if not _segments(msg, "PID"):
        raise IntakeError("PID", "missing segment")
    intake = Hl7Intake("^".join(kind), control_id, _patient(msg, systems or IdentifierSystems()))
    sent = _time(_get(msg, "MSH", 1, 7), "MSH-7")
    has_obr = bool(_segments(msg, "OBR"))
    observed = _time(_get(msg, "OBR", 1, 7), "OBR-7") if has_obr else None
    requested = _time(_get(msg, "OBR", 1, 6), "OBR-6") if has_obr else None
    when = observed or requested or sent
    if when is None:
        raise IntakeError("MSH-7", "no time in OBX-14, OBR-7, OBR-6 or MSH-7")
    accession = (_get(msg, "OBR", 1, 18) or _get(msg, "OBR", 1, 3))[:16] if has_obr else ""
    if kind == ("ORM", "O01"):
        if not has_obr:
            raise IntakeError("OBR", "an order without OBR says nothing to store")
        _order(msg, intake, requested or when, accession)
    _observations(msg, intake, when, accession)
    if not intake.values and not intake.skipped:
        raise IntakeError("OBX", "no values in the message")
    return intake


def _escape(text: str) -> str:
    """HL7 escape sequences for the default delimiters (escape character first)."""
    for char, seq in (
        ("\\", "\\E\\"),
        ("|", "\\F\\"),
        ("^", "\\S\\"),
        ("&", "\\T\\"),
        ("~", "\\R\\"),
    ):
        text = text.replace(char, seq)
    return text.replace("\r", " ").replace("\n", " ")


def _ack(text: str, code: str, reason: str, error: str = "") -> str:
    """An original-mode ACK for ``text`` (a minimal one when its MSH cannot be read)."""
    detail = _escape(reason)[:500]
    try:
        msg = hl7.parse(text)
        ack = str(msg.create_ack(code, application="RADWS", facility="RADWS"))
        control = _escape(_get(msg, "MSH", 1, 10))
    except (HL7Exception, KeyError, IndexError, ValueError):
        stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%d%H%M%S")
        ack = f"MSH|^~\\&|RADWS|RADWS|||{stamp}||ACK|{stamp}|P|2.5.1\rMSA|{code}|"
        control = ""
    lines = [line for line in ack.split("\r") if line and not line.startswith("MSA")]
    lines.append(f"MSA|{code}|{control}|{detail}" if detail else f"MSA|{code}|{control}")
    if code != "AA":
        # ERR-3 HL7 error code (table 0357), ERR-4 severity, ERR-8 user message
        lines.append(f"ERR|||{error}|E||||{detail}")
    return "\r".join(lines) + "\r"


def hl7_message_handle(raw: bytes) -> str:
    """Store one received message (all of it or nothing) and return the ACK to send."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        text = raw.decode("latin-1")
    text = text.replace("\n", "\r").strip("\r")
    try:
        intake = hl7_parse(text, systems=identifier_systems_get())
        clinical_values_record(
            values=intake.values, source=ValueSource.HL7, patients=[intake.patient]
        )
    except Hl7Rejected as exc:
        logger.warning("HL7 message rejected (AR): %s", exc)
        return _ack(text, "AR", str(exc), exc.error)
    except IntakeError as exc:
        logger.warning("HL7 message in error (AE): %s", exc)
        missing = "missing" in exc.message or "no " in exc.message[:3]
        return _ack(text, "AE", str(exc), REQUIRED_FIELD_MISSING if missing else DATA_TYPE_ERROR)
    except DatabaseError as exc:
        logger.error("HL7 message not stored, database unavailable (AE): %s", exc)
        return _ack(text, "AE", "database unavailable; resend later", APPLICATION_ERROR)
    note = f"{len(intake.values)} value(s) stored"
    if intake.skipped:
        note += "; skipped " + ", ".join(intake.skipped)
    logger.info("HL7 %s %s: %s", intake.message_type, intake.control_id, note)
    return _ack(text, "AA", note)
