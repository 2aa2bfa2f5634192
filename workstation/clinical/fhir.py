"""FHIR R4 intake: Patient, ServiceRequest, Condition and Observation resources, alone or in
a transaction, batch or collection Bundle, parsed and validated with ``fhir.resources.R4B``
(R4's technical correction: these resources are the same on the wire as R4; the package's
top level is R5, whose ServiceRequest has no ``reasonCode``).

The whole payload is parsed before anything is stored; any bad part raises ``IntakeError``
naming it (``entry[1].Observation.valueQuantity.code: ...``), and the API answers 400 with an
OperationOutcome. Batch bundles are processed atomically too (all or nothing), which is
stricter than FHIR requires and documented in the README.

Patient matching, on (issuer, value) as the studies carry them (DICOM IssuerOfPatientID and
PatientID): of ``Patient.identifier`` the one whose ``system`` is configured in
``CLINICAL_IDENTIFIER_SYSTEMS`` is used (the ``usual`` or ``official`` one first), else the
``usual`` or ``official`` one, else the first. Its issuer is the configured issuer of its
system; with no system, its ``assigner.display`` (or ``assigner.identifier.value``); a system
not configured is accepted only with an assigner naming the issuer, and otherwise refused
(400, nothing stored): see ``intake.IdentifierSystems``. A logical reference
(``subject.identifier``) is matched the same way. A ServiceRequest's accession number is its
identifier whose type is v2-0203 ``ACSN``; Observations ``basedOn`` that request inherit it.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from fhir.resources.R4B import get_fhir_model_class
from pydantic import ValidationError

from workstation.clinical.codes import CATALOGUE, LOINC, OTHER, SMOKING_SNOMED, by_alias, by_loinc
from workstation.clinical.intake import (
    IdentifierSystems,
    IntakeError,
    PatientRef,
    Quantity,
    ValueIn,
    aware,
    converted,
)
from workstation.clinical.models import ValueKind

RESOURCE_TYPES = ("Patient", "ServiceRequest", "Condition", "Observation")
BUNDLE_TYPES = ("transaction", "batch", "collection")
SKIPPED_STATUSES = frozenset({"entered-in-error", "cancelled", "revoked"})
_SEX = {"male": "M", "female": "F", "other": "O"}


@dataclass
class FhirIntake:
    """A parsed payload: values to store, patients it names, and one outcome per entry
    ("stored: 2 values", "skipped: status entered-in-error")."""

    bundle_type: str  # "" for a single resource
    patients: list[PatientRef] = field(default_factory=list)
    values: list[ValueIn] = field(default_factory=list)
    outcomes: list[str] = field(default_factory=list)


def _text(concept: Any) -> str:
    if concept is None:
        return ""
    if getattr(concept, "text", None):
        return str(concept.text)
    for coding in getattr(concept, "coding", None) or []:
        if coding.display:
            return str(coding.display)
    codings = getattr(concept, "coding", None) or []
    return str(codings[0].code) if codings and codings[0].code else ""


def _assigner(identifier: Any) -> str:
    assigner = identifier.assigner
    if assigner is None:
        return ""
    return str(assigner.display or (assigner.identifier.value if assigner.identifier else "") or "")


def _issuer(identifier: Any, systems: IdentifierSystems, where: str) -> str:
    return systems.issuer(
        system=str(identifier.system or ""), assigner=_assigner(identifier), where=where
    )[:64]


def _patient_ref(resource: Any, where: str, systems: IdentifierSystems) -> PatientRef:
    identifiers = list(resource.identifier or [])
    if not identifiers:
        raise IntakeError(f"{where}.identifier", "a Patient needs an identifier to be matched")
    index = min(
        range(len(identifiers)),
        key=lambda i: (
            systems.mapped(str(identifiers[i].system or "")) is None,
            identifiers[i].use not in ("usual", "official"),
            i,
        ),
    )
    chosen = identifiers[index]
    if not chosen.value:
        raise IntakeError(f"{where}.identifier[{index}].value", "missing")
    issuer = _issuer(chosen, systems, f"{where}.identifier[{index}].system")
    name = ""
    if resource.name:
        first = resource.name[0]
        name = "^".join(filter(None, [first.family or "", " ".join(first.given or [])]))
    birth = resource.birthDate if isinstance(resource.birthDate, dt.date) else None
    return PatientRef(
        str(chosen.value)[:64],
        issuer,
        name[:324],
        birth,
        _SEX.get(resource.gender or "", ""),
    )


class _Resolver:
    """Resolves ``subject`` and ``basedOn`` references against the payload's own entries."""

    def __init__(self, systems: IdentifierSystems) -> None:
        self.systems = systems
        self.patients: dict[str, PatientRef] = {}
        self.accessions: dict[str, str] = {}

    def subject(self, reference: Any, where: str) -> PatientRef:
        if reference is None:
            raise IntakeError(
                f"{where}.subject", "missing: the value cannot be linked to a patient"
            )
        if reference.reference and reference.reference in self.patients:
            return self.patients[reference.reference]
        ident = reference.identifier
        if ident is not None and ident.value:
            issuer = _issuer(ident, self.systems, f"{where}.subject.identifier.system")
            return PatientRef(str(ident.value)[:64], issuer)
        raise IntakeError(
            f"{where}.subject",
            f"cannot resolve {reference.reference or 'the reference'}: include the Patient in the "
            "Bundle or use a logical reference (subject.identifier)",
        )

    def accession(self, based_on: Any) -> str:
        for reference in based_on or []:
            if reference.reference in self.accessions:
                return self.accessions[reference.reference]
        return ""


def _time(where: str, *candidates: Any) -> dt.datetime:
    for value in candidates:
        if isinstance(value, dt.datetime | dt.date):
            return aware(value)
    raise IntakeError(
        where, "no time: a value without a time cannot be placed in the study's window"
    )


def _accession(resource: Any) -> str:
    for identifier in resource.identifier or []:
        codes = [c.code for c in (identifier.type.coding or [])] if identifier.type else []
        if "ACSN" in codes and identifier.value:
            return str(identifier.value)[:16]
    return ""


def _service_request(resource: Any, where: str, resolver: _Resolver) -> list[ValueIn]:
    patient = resolver.subject(resource.subject, where)
    when = _time(f"{where}.authoredOn", resource.authoredOn, resource.occurrenceDateTime)
    accession = _accession(resource)
    ref = f"ServiceRequest/{resource.id}" if resource.id else ""
    common: dict[str, Any] = {
        "patient": patient,
        "observed_at": when,
        "accession_number": accession,
    }
    out = []
    reasons = "; ".join(filter(None, (_text(c) for c in resource.reasonCode or [])))
    if reasons:
        out.append(
            ValueIn(
                kind=ValueKind.REQUEST,
                code="indication",
                display=CATALOGUE["indication"].display,
                value_text=reasons,
                source_ref=ref,
                **common,
            )
        )
    notes = " ".join(str(n.text) for n in resource.note or [] if n.text)
    if notes:
        out.append(
            ValueIn(
                kind=ValueKind.REQUEST,
                code="history",
                display="Order note",
                value_text=notes,
                source_ref=ref,
                **common,
            )
        )
    procedure = _text(resource.code)
    if procedure:
        out.append(
            ValueIn(
                kind=ValueKind.REQUEST,
                code="requested_procedure",
                display=CATALOGUE["requested_procedure"].display,
                value_text=procedure,
                source_ref=ref,
                **common,
            )
        )
    if not out:
        raise IntakeError(
            where, "a ServiceRequest without reasonCode, note or code says nothing to store"
        )
    return out


def _condition(resource: Any, where: str, resolver: _Resolver) -> list[ValueIn]:
    patient = resolver.subject(resource.subject, where)
    text = _text(resource.code)
    if not text:
        raise IntakeError(f"{where}.code", "missing: a Condition needs a code or text")
    status = _text(resource.clinicalStatus)
    if status and status.lower() in ("resolved", "inactive", "remission"):
        text = f"{text} ({status.lower()})"
    when = _time(f"{where}.onsetDateTime", resource.onsetDateTime, resource.recordedDate)
    coding = (resource.code.coding or [None])[0]
    return [
        ValueIn(
            patient=patient,
            kind=ValueKind.CONDITION,
            code="condition",
            display="Known condition",
            value_text=text,
            observed_at=when,
            coding_system=str(coding.system or "") if coding else "",
            coding_code=str(coding.code or "") if coding else "",
            source_ref=f"Condition/{resource.id}" if resource.id else "",
        )
    ]


def _number(value: Decimal | float | None) -> float | None:
    return None if value is None else float(value)


def _observation(resource: Any, where: str, resolver: _Resolver) -> list[ValueIn]:
    patient = resolver.subject(resource.subject, where)
    codings = list(resource.code.coding or []) if resource.code else []
    loinc = next((c for c in codings if c.system == LOINC and c.code), None)
    code_def = by_loinc(str(loinc.code)) if loinc else None
    if code_def is None:
        code_def = next(
            (by_alias(str(c.code)) for c in codings if c.code and by_alias(str(c.code))), None
        )
    when = _time(
        f"{where}.effectiveDateTime",
        resource.effectiveDateTime,
        resource.effectivePeriod.start if resource.effectivePeriod else None,
        resource.effectiveInstant,
        resource.issued,
    )
    first = loinc or (codings[0] if codings else None)
    common: dict[str, Any] = {
        "patient": patient,
        "kind": ValueKind.OBSERVATION,
        "observed_at": when,
        "accession_number": resolver.accession(resource.basedOn),
        "coding_system": str(first.system or "") if first else "",
        "coding_code": str(first.code or "") if first else "",
        "source_ref": f"Observation/{resource.id}" if resource.id else "",
    }
    if code_def is not None and code_def.key == "smoking_status":
        concept = resource.valueCodeableConcept
        if concept is None and resource.valueString is None:
            raise IntakeError(
                f"{where}.valueCodeableConcept", "missing: smoking status needs a value"
            )
        snomed = (
            next((str(c.code) for c in (concept.coding or []) if str(c.code) in SMOKING_SNOMED), "")
            if concept
            else ""
        )
        text = snomed or _text(concept) or str(resource.valueString or "")
        return [ValueIn(code="smoking_status", display=code_def.display, value_text=text, **common)]
    quantity = resource.valueQuantity
    if code_def is not None and code_def.unit:
        if quantity is None or quantity.value is None:
            raise IntakeError(
                f"{where}.valueQuantity", f"missing: {code_def.display} needs a number"
            )
        unit = str(quantity.code or quantity.unit or "")
        low = high = None
        if resource.referenceRange:
            first_range = resource.referenceRange[0]
            low = _number(first_range.low.value) if first_range.low else None
            high = _number(first_range.high.value) if first_range.high else None
        flag = ""
        if resource.interpretation:
            flag = (
                str((resource.interpretation[0].coding or [None])[0].code or "")
                if resource.interpretation[0].coding
                else ""
            )
        stored = converted(
            code_def,
            Quantity(float(quantity.value), unit, low, high, flag),
            f"{where}.valueQuantity.code",
        )
        return [ValueIn(code=code_def.key, display=code_def.display, **common, **stored)]
    display = _text(resource.code) or "observation"
    if quantity is not None and quantity.value is not None:
        return [
            ValueIn(
                code=OTHER,
                display=display,
                value_number=float(quantity.value),
                unit=str(quantity.code or quantity.unit or ""),
                **common,
            )
        ]
    text = str(resource.valueString or _text(resource.valueCodeableConcept) or "")
    if not text:
        raise IntakeError(f"{where}.value[x]", "missing: an Observation needs a value")
    return [ValueIn(code=OTHER, display=display, value_text=text, **common)]


def _validated(data: Any, where: str) -> Any:
    if not isinstance(data, dict):
        raise IntakeError(where, "not a JSON object")
    kind = data.get("resourceType")
    if kind not in (*RESOURCE_TYPES, "Bundle"):
        raise IntakeError(
            f"{where}.resourceType",
            f"{kind!r} is not accepted here (accepted: Bundle, {', '.join(RESOURCE_TYPES)})",
        )
    try:
        return get_fhir_model_class(kind).model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        location = ".".join(str(p) for p in first.get("loc", ()))
        raise IntakeError(
            f"{where}.{kind}.{location}".rstrip("."), first.get("msg", "invalid")
        ) from exc


def fhir_parse(payload: Any, *, systems: IdentifierSystems | None = None) -> FhirIntake:
    """Parse a FHIR R4 payload completely, matching patients through ``systems`` (none
    configured when omitted). Raises ``IntakeError``."""
    systems = systems or IdentifierSystems()
    top = _validated(payload, "$")
    if top.get_resource_type() == "Bundle":
        if top.type not in BUNDLE_TYPES:
            raise IntakeError(
                "$.Bundle.type",
                f"{top.type!r} is not accepted (accepted: {', '.join(BUNDLE_TYPES)})",
            )
        entries = []
        for index, entry in enumerate(top.entry or []):
            where = f"entry[{index}]"
            if entry.resource is None:
                raise IntakeError(where, "no resource")
            resource = _validated(entry.resource.model_dump(mode="json", exclude_none=True), where)
            entries.append((where, str(entry.fullUrl or ""), resource))
        intake = FhirIntake(str(top.type))
    else:
        entries = [("$", "", top)]
        intake = FhirIntake("")
    if not entries:
        raise IntakeError("$.Bundle.entry", "empty bundle")
    resolver = _Resolver(systems)
    # Patients and requests first, so references to them resolve whatever the entry order.
    for where, full_url, resource in entries:
        kind = resource.get_resource_type()
        if kind == "Patient":
            ref = _patient_ref(resource, f"{where}.Patient", systems)
            intake.patients.append(ref)
            for key in filter(None, (full_url, f"Patient/{resource.id}" if resource.id else "")):
                resolver.patients[key] = ref
        elif kind == "ServiceRequest":
            accession = _accession(resource)
            for key in filter(
                None, (full_url, f"ServiceRequest/{resource.id}" if resource.id else "")
            ):
                resolver.accessions[key] = accession
    for where, _, resource in entries:
        kind = resource.get_resource_type()
        status = str(getattr(resource, "status", "") or "")
        if kind == "Patient":
            intake.outcomes.append(f"{where}: patient recorded")
            continue
        if status in SKIPPED_STATUSES:
            intake.outcomes.append(f"{where}: skipped, status {status}")
            continue
        parser = {
            "ServiceRequest": _service_request,
            "Condition": _condition,
            "Observation": _observation,
        }[kind]
        values = parser(resource, f"{where}.{kind}", resolver)
        intake.values += values
        intake.outcomes.append(f"{where}: {len(values)} value(s) stored")
    return intake
