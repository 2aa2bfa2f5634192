"""Prior studies of a new study's patient, fetched from the configured PACS (issue 11).

The PACS is asked with C-FIND (Study Root, STUDY level, by Patient ID and issuer); studies not
held here are pulled with C-MOVE to this SCP, so they arrive through the ordinary C-STORE
path; those that arrived are linked as the study's priors (``ClinicalContext.prior_studies``).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from pydicom.dataset import Dataset
from pynetdicom import AE
from pynetdicom.sop_class import (  # type: ignore[attr-defined]
    StudyRootQueryRetrieveInformationModelFind,
    StudyRootQueryRetrieveInformationModelMove,
)

from workstation.dicom.qr import LIMIT_REACHED, PENDING, UNABLE_TO_PROCESS
from workstation.studies.models import ClinicalContext, Instance, Study

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class PriorsResult:
    found: list[str]  # study UIDs the PACS holds for the patient (newest first)
    requested: list[str]  # those not held here, asked for with C-MOVE
    failed: list[str]  # moves that did not complete


def _pacs_ae() -> AE:
    ae = AE(ae_title=settings.DICOM_AE_TITLE)
    ae.acse_timeout = settings.DICOM_ACSE_TIMEOUT
    ae.dimse_timeout = settings.DICOM_DIMSE_TIMEOUT
    ae.network_timeout = settings.DICOM_NETWORK_TIMEOUT
    ae.add_requested_context(StudyRootQueryRetrieveInformationModelFind)
    ae.add_requested_context(StudyRootQueryRetrieveInformationModelMove)
    return ae


def _pacs_find_studies(assoc: Any, patient_id: str, issuer: str) -> list[tuple[str, str]]:
    query = Dataset()
    query.QueryRetrieveLevel = "STUDY"
    query.PatientID = patient_id
    if issuer:
        query.IssuerOfPatientID = issuer
    query.StudyInstanceUID = ""
    query.StudyDate = ""
    studies = []
    for status, answer in assoc.send_c_find(query, StudyRootQueryRetrieveInformationModelFind):
        code = int(status.get("Status", UNABLE_TO_PROCESS)) if status else UNABLE_TO_PROCESS
        if code in (PENDING, 0xFF01) and answer is not None:
            studies.append((str(answer.get("StudyDate", "")), str(answer.StudyInstanceUID)))
        elif code not in (0x0000, LIMIT_REACHED, 0xB001):
            raise ConnectionError(f"C-FIND to the priors PACS answered 0x{code:04X}")
    return sorted(studies, reverse=True)


def priors_fetch(
    *, patient_id: str, issuer: str, exclude: set[str], have: set[str]
) -> PriorsResult:
    """Ask the priors PACS (PRIORS_PACS_*) for the patient's studies and C-MOVE the newest
    ``PRIORS_MAX_STUDIES`` not in ``have`` (nor ``exclude``) to this SCP (DICOM_AE_TITLE).

    They arrive through the ordinary C-STORE path. Raises ``ConnectionError`` when the PACS
    cannot be reached or refuses the query.
    """
    ae = _pacs_ae()
    assoc = ae.associate(
        settings.PRIORS_PACS_HOST, settings.PRIORS_PACS_PORT, ae_title=settings.PRIORS_PACS_AE_TITLE
    )
    if not assoc.is_established:
        raise ConnectionError(
            f"no association with {settings.PRIORS_PACS_AE_TITLE}@"
            f"{settings.PRIORS_PACS_HOST}:{settings.PRIORS_PACS_PORT}"
        )
    try:
        found = [uid for _, uid in _pacs_find_studies(assoc, patient_id, issuer)]
        wanted = [u for u in found if u not in have and u not in exclude]
        wanted = wanted[: settings.PRIORS_MAX_STUDIES]
        failed = []
        for study_uid in wanted:
            identifier = Dataset()
            identifier.QueryRetrieveLevel = "STUDY"
            identifier.StudyInstanceUID = study_uid
            final = 0xC000
            for status, _ in assoc.send_c_move(
                identifier, settings.DICOM_AE_TITLE, StudyRootQueryRetrieveInformationModelMove
            ):
                if status:
                    final = int(status.Status)
            if final != 0x0000:
                logger.warning("prior %s: C-MOVE ended 0x%04X", study_uid, final)
                failed.append(study_uid)
    finally:
        if assoc.is_established:
            assoc.release()
    return PriorsResult(found=found, requested=wanted, failed=failed)


def study_priors_fetch(*, study_uid: str) -> PriorsResult | None:
    """Fetch and link the priors of ``study_uid``; ``None`` when there is nothing to ask:
    no Patient ID (an empty key would match every patient), or the study is itself a prior
    the PACS sent. Raises ``Study.DoesNotExist`` and ``ConnectionError`` (PACS unreachable)."""
    study = Study.objects.select_related("patient").get(study_uid=study_uid)
    if not study.patient.patient_id.strip():
        logger.info("study %s: no Patient ID, no priors asked for", study_uid)
        return None
    senders = set(
        Instance.objects.filter(series__study=study).values_list("calling_ae_title", flat=True)
    )
    if senders and senders <= {settings.PRIORS_PACS_AE_TITLE}:
        return None
    held = set(Study.objects.filter(patient=study.patient).values_list("study_uid", flat=True))
    result = priors_fetch(
        patient_id=study.patient.patient_id,
        issuer=study.patient.issuer,
        exclude={study_uid},
        have=held,
    )
    arrived = Study.objects.filter(patient=study.patient, study_uid__in=result.found).exclude(
        pk=study.pk
    )
    context, _ = ClinicalContext.objects.get_or_create(study=study, defaults={"source": "dicom"})
    context.prior_studies.add(*arrived)
    logger.info(
        "study %s: %d prior(s) at the PACS, %d fetched, %d failed",
        study_uid,
        len(result.found),
        len(result.requested),
        len(result.failed),
    )
    return result
