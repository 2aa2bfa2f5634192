"""Query/retrieve over DIMSE: the C-FIND, C-MOVE and C-GET SCP handlers (the C-FIND/C-MOVE
SCU that fetches priors is ``workstation.dicom.priors``).

The SCP handlers are pynetdicom generators over the same matching as QIDO-RS
(``workstation.dicom.query``). Each failure path yields a DIMSE status named in a comment.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pydicom
from django.conf import settings
from django.db import DatabaseError, connection
from pydicom.dataset import Dataset
from pydicom.multival import MultiValue
from pynetdicom import AE, ALL_TRANSFER_SYNTAXES, AllStoragePresentationContexts, build_context, evt
from pynetdicom.events import Event
from pynetdicom.presentation import PresentationContext
from pynetdicom.sop_class import (  # type: ignore[attr-defined]
    PatientRootQueryRetrieveInformationModelFind,
    PatientRootQueryRetrieveInformationModelGet,
    PatientRootQueryRetrieveInformationModelMove,
    StudyRootQueryRetrieveInformationModelFind,
    StudyRootQueryRetrieveInformationModelGet,
    StudyRootQueryRetrieveInformationModelMove,
    Verification,
)

from workstation.audit.models import AuditAction
from workstation.audit.services import audit_record
from workstation.dicom.query import (
    CONTROL_KEYWORDS,
    QueryError,
    QueryLevel,
    matching,
    returnable,
    search,
)
from workstation.studies.models import Instance
from workstation.studies.storage import resolve

logger = logging.getLogger(__name__)

PATIENT_ROOT = frozenset(
    {
        str(PatientRootQueryRetrieveInformationModelFind),
        str(PatientRootQueryRetrieveInformationModelMove),
        str(PatientRootQueryRetrieveInformationModelGet),
    }
)
QR_SOP_CLASSES = (
    PatientRootQueryRetrieveInformationModelFind,
    PatientRootQueryRetrieveInformationModelMove,
    PatientRootQueryRetrieveInformationModelGet,
    StudyRootQueryRetrieveInformationModelFind,
    StudyRootQueryRetrieveInformationModelMove,
    StudyRootQueryRetrieveInformationModelGet,
)

# PS3.4 C.4.1.1.4 / C.4.2.1.5 / C.4.3.1.4 statuses used below.
PENDING = 0xFF00
CANCELLED = 0xFE00
OUT_OF_RESOURCES = 0xA700
IDENTIFIER_DOES_NOT_MATCH = 0xA900
UNABLE_TO_PROCESS = 0xC000
MOVE_DESTINATION_UNKNOWN = 0xA801
# More matched than DICOM_QR_MAX_MATCHES: the first matches are sent, then 0xA700 with a comment.
# Not the warning 0xB001: that status belongs to the Repository Query model, where pynetdicom
# follows it with a Success, which would be read as the answer to the SCU's next query.
LIMIT_REACHED = OUT_OF_RESOURCES


class IdentifierError(ValueError):
    """The identifier cannot be answered: no or a wrong level, or keys that cannot match."""


def _level(identifier: Dataset, sop_class_uid: str) -> QueryLevel:
    raw = str(identifier.get("QueryRetrieveLevel", "")).strip().upper()
    try:
        level = QueryLevel(raw)
    except ValueError:
        raise IdentifierError(f"QueryRetrieveLevel {raw[:16]!r} is not supported") from None
    if level is QueryLevel.PATIENT and sop_class_uid not in PATIENT_ROOT:
        raise IdentifierError("the PATIENT level exists only in the Patient Root model")
    return level


def _value_text(element: Any) -> str:
    value = element.value
    if value is None:
        return ""
    if isinstance(value, MultiValue | list | tuple):
        return "\\".join(str(v) for v in value)
    return str(value)


def _keys(identifier: Dataset, level: QueryLevel) -> tuple[dict[str, str], list[str]]:
    """Matching keys the database knows, and the requested keys it does not (returned empty:
    PS3.4 C.2.2.1 lets an SCP leave optional keys it does not support unmatched)."""
    known = {a.keyword for a in returnable(level)}
    keys, unknown = {}, []
    for element in identifier:
        keyword = element.keyword
        if not keyword or keyword in CONTROL_KEYWORDS:
            continue
        if element.VR == "SQ":
            unknown.append(keyword)
            continue
        if keyword in known:
            keys[keyword] = _value_text(element)
        else:
            unknown.append(keyword)
    return keys, unknown


def find_responses(
    identifier: Dataset, *, sop_class_uid: str, limit: int
) -> Iterator[tuple[int | Dataset, Dataset | None]]:
    """The C-FIND responses for ``identifier``: one Pending per match (at most ``limit``),
    then, when more matched, ``LIMIT_REACHED`` with a comment. Raises ``IdentifierError``."""
    level = _level(identifier, sop_class_uid)
    keys, unknown = _keys(identifier, level)
    try:
        result = search(level=level, keys=keys, include=list(keys), limit=limit)
    except QueryError as exc:
        raise IdentifierError(str(exc)) from None
    for row in result.rows:
        answer = Dataset()
        answer.QueryRetrieveLevel = level.value
        answer.SpecificCharacterSet = "ISO_IR 192"
        answer.RetrieveAETitle = settings.DICOM_AE_TITLE
        for keyword in keys:
            setattr(answer, keyword, row.get(keyword))
        for keyword in unknown:
            setattr(answer, keyword, None)
        yield PENDING, answer
    if result.truncated:
        status = Dataset()
        status.Status = LIMIT_REACHED
        status.ErrorComment = f"more than {limit} matches, {limit} sent: narrow the query"[:64]
        yield status, None


def _failure(status: int, comment: str) -> tuple[Dataset, None]:
    dataset = Dataset()
    dataset.Status = status
    dataset.ErrorComment = comment[:64]
    return dataset, None


def handle_find(event: Event) -> Iterator[tuple[int | Dataset, Dataset | None]]:
    """C-FIND SCP (Patient Root and Study Root; PATIENT, STUDY, SERIES, IMAGE levels)."""
    calling = event.assoc.requestor.ae_title
    try:
        identifier = event.identifier
        sop_class = str(event.request.AffectedSOPClassUID)
        responses = list(
            find_responses(identifier, sop_class_uid=sop_class, limit=settings.DICOM_QR_MAX_MATCHES)
        )
        _audit(
            AuditAction.VIEW,
            calling,
            "c-find",
            f"{identifier.get('QueryRetrieveLevel', '')}: {len(responses)} response(s)",
        )
        for response in responses:
            if event.is_cancelled:
                yield CANCELLED, None  # 0xFE00 Cancel: the SCU asked to stop
                return
            yield response
    except IdentifierError as exc:
        # 0xA900 Identifier does not match SOP Class
        logger.warning("C-FIND from %s refused: %s", calling, exc)
        yield _failure(IDENTIFIER_DOES_NOT_MATCH, str(exc))
    except DatabaseError as exc:
        # 0xA700 Out of resources: the database is unavailable
        logger.error("C-FIND from %s: database failed: %s", calling, exc)
        connection.close()
        yield _failure(OUT_OF_RESOURCES, "database unavailable")
    except Exception as exc:  # pydicom raises many types on a corrupt identifier
        # 0xC000 Unable to process
        logger.warning("C-FIND from %s: identifier unreadable: %s", calling, exc)
        yield _failure(UNABLE_TO_PROCESS, "identifier cannot be decoded")


def _audit(action: AuditAction, calling: str, kind: str, detail: str, study_uid: str = "") -> None:
    """One audit row per query or retrieve; the requester is the calling AE title."""
    audit_record(
        action=action,
        user=None,
        username=f"dicom:{calling}",
        object_type=kind[:32],
        study_uid=study_uid,
        detail=detail,
    )


def _audit_retrieve(calling: str, kind: str, instances: list[Instance]) -> None:
    studies = sorted({i.series.study.study_uid for i in instances})
    _audit(
        AuditAction.EXPORT,
        calling,
        kind,
        f"{len(instances)} instance(s) of {' '.join(studies)}",
        studies[0] if len(studies) == 1 else "",
    )


_UNIQUE_KEYS = ("PatientID", "StudyInstanceUID", "SeriesInstanceUID", "SOPInstanceUID")


def retrieve_instances(identifier: Dataset, *, sop_class_uid: str) -> list[Instance]:
    """The instances a C-MOVE/C-GET identifier names. It must carry a unique key
    (PS3.4 C.4.2.2.1), so nothing can ask for the whole database. Raises ``IdentifierError``."""
    level = _level(identifier, sop_class_uid)
    keys = {
        k: v
        for k, v in _keys(identifier, QueryLevel.IMAGE)[0].items()
        if k in _UNIQUE_KEYS and v.strip() not in ("", "*")
    }
    needed = {
        QueryLevel.PATIENT: "PatientID",
        QueryLevel.STUDY: "StudyInstanceUID",
        QueryLevel.SERIES: "SeriesInstanceUID",
        QueryLevel.IMAGE: "SOPInstanceUID",
    }[level]
    if needed not in keys:
        raise IdentifierError(f"a {level} level retrieve needs {needed}")
    if any(c in keys.get("PatientID", "") for c in "*?\\"):
        raise IdentifierError("a retrieve names one patient: no wildcards in PatientID")
    try:
        queryset = matching(level=QueryLevel.IMAGE, keys=keys)
    except QueryError as exc:
        raise IdentifierError(str(exc)) from None
    return list(
        queryset.select_related("series__study").order_by(
            "series__series_number", "instance_number", "pk"
        )
    )


def _stored_dataset(instance: Instance) -> Dataset | None:
    try:
        return pydicom.dcmread(resolve(Path(settings.DICOM_STORAGE_DIR), instance.storage_path))
    except (OSError, pydicom.errors.InvalidDicomError) as exc:
        logger.error("instance %s unreadable for retrieve: %s", instance.sop_uid, exc)
        return None


def _sub_operations(
    event: Event, instances: list[Instance]
) -> Iterator[tuple[int | Dataset, Dataset | None]]:
    for instance in instances:
        if event.is_cancelled:
            yield CANCELLED, None  # 0xFE00 Cancel: the SCU asked to stop
            return
        dataset = _stored_dataset(instance)
        if dataset is not None:
            yield PENDING, dataset
        else:
            # A missing file counts as a failed sub-operation; the others still go.
            yield PENDING, Dataset()


def store_contexts(instances: list[Instance]) -> list[PresentationContext]:
    """Presentation contexts for sending ``instances`` as stored (at most 128)."""
    pairs: dict[str, set[str]] = {}
    for instance in instances:
        pairs.setdefault(instance.sop_class_uid, set()).add(instance.transfer_syntax_uid)
    contexts = []
    for sop_class, syntaxes in sorted(pairs.items()):
        for syntax in sorted(syntaxes):
            contexts.append(build_context(sop_class, [syntax]))
    if len(contexts) > 128:
        raise IdentifierError("the instances need more than 128 presentation contexts")
    return contexts


def handle_move(event: Event) -> Iterator[Any]:
    """C-MOVE SCP: send the identified instances to a destination of DICOM_MOVE_DESTINATIONS."""
    calling = event.assoc.requestor.ae_title
    destination = event.move_destination
    if isinstance(destination, bytes):
        destination = destination.decode("ascii", "replace")
    destination = str(destination).strip()
    address = settings.DICOM_MOVE_DESTINATIONS.get(destination)
    if address is None:
        # 0xA801 Move destination unknown (pynetdicom answers it for (None, None))
        logger.warning("C-MOVE from %s refused: unknown destination %r", calling, destination)
        yield None, None
        return
    try:
        instances = retrieve_instances(
            event.identifier, sop_class_uid=str(event.request.AffectedSOPClassUID)
        )
        contexts = store_contexts(instances)
    except (IdentifierError, DatabaseError) as exc:
        # 0xA900 Identifier does not match SOP Class; 0xA700 Out of resources (database)
        status = IDENTIFIER_DOES_NOT_MATCH if isinstance(exc, IdentifierError) else OUT_OF_RESOURCES
        logger.warning("C-MOVE from %s refused: %s", calling, exc)
        # pynetdicom reads the destination (and associates), then a count, before any
        # status can be sent; Verification is the one context the refusal needs.
        yield address[0], address[1], {"contexts": [build_context(Verification)]}
        yield 1
        yield _failure(status, str(exc))
        return
    logger.info("C-MOVE from %s: %d instance(s) to %s", calling, len(instances), destination)
    _audit_retrieve(calling, f"c-move to {destination}", instances)
    yield address[0], address[1], {"contexts": contexts, "ae_title": destination}
    yield len(instances)
    yield from _sub_operations(event, instances)


def handle_get(event: Event) -> Iterator[Any]:
    """C-GET SCP: send the identified instances back over the requesting association."""
    calling = event.assoc.requestor.ae_title
    try:
        instances = retrieve_instances(
            event.identifier, sop_class_uid=str(event.request.AffectedSOPClassUID)
        )
    except (IdentifierError, DatabaseError) as exc:
        # 0xA900 Identifier does not match SOP Class; 0xA700 Out of resources (database)
        status = IDENTIFIER_DOES_NOT_MATCH if isinstance(exc, IdentifierError) else OUT_OF_RESOURCES
        logger.warning("C-GET from %s refused: %s", calling, exc)
        yield 1  # pynetdicom answers a count of 0 with Success before any status
        yield _failure(status, str(exc))
        return
    logger.info("C-GET from %s: %d instance(s)", calling, len(instances))
    _audit_retrieve(calling, "c-get", instances)
    yield len(instances)
    yield from _sub_operations(event, instances)


def qr_contexts_add(ae: AE) -> None:
    """Accept the query/retrieve models, and the SCP role for storage (C-GET sends back)."""
    for sop_class in QR_SOP_CLASSES:
        ae.add_supported_context(sop_class, ALL_TRANSFER_SYNTAXES)
    for context in AllStoragePresentationContexts:
        ae.add_supported_context(
            str(context.abstract_syntax), ALL_TRANSFER_SYNTAXES, scu_role=True, scp_role=True
        )


def qr_handlers() -> list[tuple[Any, Any]]:
    return [
        (evt.EVT_C_FIND, handle_find),
        (evt.EVT_C_MOVE, handle_move),
        (evt.EVT_C_GET, handle_get),
    ]
