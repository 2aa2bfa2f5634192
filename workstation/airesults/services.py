"""Publishing a report's AI results and signed text as DICOM objects.

The objects are stored through the C-STORE ingest path (so QIDO-RS/WADO-RS and C-FIND serve
them like any instance) and, on signing, sent to the results PACS when one is configured.
Their UIDs are derived from the report, so publishing twice stores each object once.
"""

from __future__ import annotations

import io
import logging
from dataclasses import dataclass
from pathlib import Path

import pydicom
from django.conf import settings
from pydicom.dataset import Dataset
from pydicom.sr.coding import Code

from inference.labels import Label
from reports.fhir import CHEST_SINGLE_VIEW, CHEST_TWO_VIEWS
from reports.models import (
    HUMAN_DECISIONS,
    AiDraft,
    Decision,
    Report,
    ReportVersion,
    VersionKind,
)
from workstation.airesults.documents import (
    AiFinding,
    Algorithm,
    Placement,
    SignedText,
    Verification,
    ai_measurement_report,
    ai_presentation_state,
    derived_uid,
    report_text_sr,
)
from workstation.dicom.ingest import DRAFTABLE_MODALITIES
from workstation.dicom.part10 import encode_preamble_and_meta, split_part10
from workstation.dicom.scu import send_files
from workstation.studies import services as study_services
from workstation.studies.models import Instance
from workstation.studies.services import InstanceRegistration
from workstation.studies.storage import resolve

logger = logging.getLogger(__name__)

SOURCE = "AI-RESULTS"  # the calling AE title the stored objects are recorded with
SERIES_AI_SR, SERIES_GSPS, SERIES_REPORT = 9901, 9902, 9903
_FRONTAL = ("PA", "AP")


class ResultsNotSent(RuntimeError):
    """The results PACS did not take every object (the task retries; storing is idempotent)."""


@dataclass(frozen=True)
class Published:
    stored: list[InstanceRegistration]
    sent: int  # objects the results PACS acknowledged


def source_instance(report: Report) -> Instance | None:
    """The radiograph the AI read: a frontal CR/DX image of the study (the first otherwise)."""
    images = list(
        Instance.objects.filter(
            series__study=report.study,
            series__modality__in=DRAFTABLE_MODALITIES,
            rows__isnull=False,
        ).order_by("series__series_number", "instance_number", "pk")
    )
    frontal = [i for i in images if i.view_position.strip().upper() in _FRONTAL]
    chosen = frontal or images
    return chosen[0] if chosen else None


def _header(instance: Instance) -> Dataset:
    return pydicom.dcmread(
        resolve(Path(settings.DICOM_STORAGE_DIR), instance.storage_path), stop_before_pixels=True
    )


def _findings(detail: AiDraft) -> list[AiFinding]:
    findings = []
    for item in detail.findings:
        try:
            label = Label(item["label"])
        except ValueError:
            logger.warning("AI draft %s: unknown label %r left out", detail.pk, item.get("label"))
            continue
        box = item.get("bounding_box")
        findings.append(
            AiFinding(
                label=label,
                confidence=float(item["confidence"]),
                box=(float(box[0]), float(box[1]), float(box[2]), float(box[3])) if box else None,
            )
        )
    return findings


def _procedure(report: Report) -> Code:
    views = (
        Instance.objects.filter(
            series__study=report.study, series__modality__in=DRAFTABLE_MODALITIES
        )
        .values("view_position")
        .distinct()
        .count()
    )
    code, meaning = CHEST_TWO_VIEWS if views >= 2 else CHEST_SINGLE_VIEW
    return Code(code, "LN", meaning)


def _placement(report: Report, kind: str, series_number: int, *extra: str) -> Placement:
    study_uid = report.study.study_uid
    return Placement(
        series_uid=derived_uid(study_uid, kind, "series"),
        sop_uid=derived_uid(study_uid, str(report.pk), kind, *extra),
        series_number=series_number,
    )


def _algorithm(detail: AiDraft) -> Algorithm:
    return Algorithm(
        name=detail.model_name,
        version=detail.model_version,
        backend=detail.backend,
        demonstration=detail.demonstration,
    )


def ai_objects_build(*, report: Report, detail: AiDraft, source: Dataset) -> list[Dataset]:
    """The TID 1500 SR of the draft and one GSPS per finding with a heatmap and a box."""
    algorithm = _algorithm(detail)
    findings = _findings(detail)
    objects: list[Dataset] = [
        ai_measurement_report(
            source=source,
            findings=findings,
            algorithm=algorithm,
            procedure=_procedure(report),
            placement=_placement(report, "ai-sr", SERIES_AI_SR, detail.model_version),
        )
    ]
    with_heatmap = {item["label"] for item in detail.findings if item.get("heatmap")}
    for number, finding in enumerate(findings, start=1):
        if finding.box is None or finding.label.value not in with_heatmap:
            continue
        placement = _placement(
            report, "gsps", SERIES_GSPS, detail.model_version, finding.label.value
        )
        objects.append(
            ai_presentation_state(
                source=source,
                finding=finding,
                algorithm=algorithm,
                placement=Placement(
                    placement.series_uid, placement.sop_uid, SERIES_GSPS, instance_number=number
                ),
            )
        )
    return objects


def verified_report_build(*, report: Report, detail: AiDraft, source: Dataset) -> Dataset | None:
    """The TID 1500 SR of the findings the radiologist confirmed at signing (accepted, edited
    or added), VERIFIED by the signer; AI-proposed findings nobody reviewed stay only in the
    draft's UNVERIFIED SR and rejected ones are left out. ``None`` when none was confirmed.
    Raises ``ValueError`` when the report is not signed."""
    if report.signed_at is None or report.signed_number is None:
        raise ValueError(f"report {report.pk} is not signed")
    signed = ReportVersion.objects.get(report=report, number=report.signed_number)
    proposed = {f.label: f for f in _findings(detail)}
    confirmed = []
    for row in signed.decisions.all():
        if row.decision not in HUMAN_DECISIONS:
            continue
        label = Label(row.label)
        ai = proposed.get(label) if row.decision != Decision.ADDED else None
        confirmed.append(
            AiFinding(
                label=label,
                confidence=ai.confidence if ai else None,
                box=ai.box if ai else None,
                ai_generated=ai is not None,
            )
        )
    if not confirmed:
        return None
    placement = _placement(report, "verified-sr", SERIES_AI_SR, str(report.signed_number))
    return ai_measurement_report(
        source=source,
        findings=confirmed,
        algorithm=_algorithm(detail),
        procedure=_procedure(report),
        placement=Placement(placement.series_uid, placement.sop_uid, SERIES_AI_SR, 2),
        verification=Verification(
            verifier_name=_signer_name(report),
            organization="Radiology",
            verified_at=report.signed_at,
        ),
    )


def _signer_name(report: Report) -> str:
    user = report.signed_by
    assert user is not None
    family, given = user.last_name.strip(), user.first_name.strip()
    # Without a name on record, the username as the family name ("^" marks it as one).
    return f"{family}^{given}" if family or given else f"{user.get_username()}^"


def report_object_build(*, report: Report, source: Dataset) -> Dataset:
    """The Basic Text SR of the signed version. Raises ``ValueError`` if not signed."""
    if report.signed_at is None or report.signed_number is None:
        raise ValueError(f"report {report.pk} is not signed")
    signed = ReportVersion.objects.get(report=report, number=report.signed_number)
    return report_text_sr(
        source=source,
        text=SignedText(
            findings=signed.findings,
            impression=signed.impression,
            recommendations=signed.recommendations,
            signer_name=_signer_name(report),
            signed_at=report.signed_at,
        ),
        institution="Radiology",
        placement=_placement(report, "report-sr", SERIES_REPORT, str(report.signed_number)),
    )


def dicom_object_store(dataset: Dataset) -> InstanceRegistration:
    """Store a built object exactly as if it had arrived over C-STORE. Raises
    ``IngestRefused``, ``StorageError`` or ``DatabaseError``."""
    buffer = io.BytesIO()
    dataset.save_as(buffer, enforce_file_format=True)
    part10 = split_part10(buffer.getvalue())
    return study_services.instance_ingest(
        dataset=dataset,
        dataset_bytes=part10.dataset_bytes,
        preamble_and_meta=encode_preamble_and_meta(part10.file_meta),
        transfer_syntax_uid=str(part10.file_meta.TransferSyntaxUID),
        affected_sop_class_uid=str(dataset.SOPClassUID),
        affected_sop_uid=str(dataset.SOPInstanceUID),
        source=SOURCE,
    )


def _send(registrations: list[InstanceRegistration]) -> int:
    root = Path(settings.DICOM_STORAGE_DIR)
    paths = [
        resolve(root, path)
        for path in Instance.objects.filter(
            sop_uid__in=[r.sop_uid for r in registrations]
        ).values_list("storage_path", flat=True)
    ]
    results = send_files(
        paths,
        host=settings.RESULTS_PACS_HOST,
        port=settings.RESULTS_PACS_PORT,
        called_ae_title=settings.RESULTS_PACS_AE_TITLE,
        calling_ae_title=settings.DICOM_AE_TITLE,
        timeout=settings.DICOM_NETWORK_TIMEOUT,
    )
    refused = [r for r in results if r.status != 0x0000]
    if refused:
        raise ResultsNotSent(
            f"{len(refused)} of {len(results)} objects not taken by "
            f"{settings.RESULTS_PACS_AE_TITLE}: "
            + ", ".join(
                f"{r.path.name}: {r.status if r.status is not None else r.error}"
                for r in refused[:3]
            )
        )
    return len(results)


def ai_results_publish(*, report_id: int, signed: bool) -> Published:
    """Build and store the report's AI objects (and, once ``signed``, the verified findings SR
    and the text SR), then send them all to the results PACS when ``signed`` and
    RESULTS_PACS_PORT is set.

    A study without a stored radiograph publishes nothing. Raises ``Report.DoesNotExist``,
    ``ResultsNotSent`` and the storage errors of :func:`dicom_object_store`.
    """
    report = Report.objects.select_related("study", "signed_by").get(pk=report_id)
    instance = source_instance(report)
    if instance is None:
        logger.info("report %s: no radiograph to reference, no DICOM results", report_id)
        return Published([], 0)
    source = _header(instance)
    objects: list[Dataset] = []
    detail = AiDraft.objects.filter(
        version__report=report, version__kind=VersionKind.AI_DRAFT
    ).first()
    if detail is not None:
        objects.extend(ai_objects_build(report=report, detail=detail, source=source))
    if signed:
        if detail is not None:
            verified = verified_report_build(report=report, detail=detail, source=source)
            objects.extend([verified] if verified is not None else [])
        objects.append(report_object_build(report=report, source=source))
    stored = [dicom_object_store(dataset) for dataset in objects]
    sent = _send(stored) if signed and settings.RESULTS_PACS_PORT and stored else 0
    logger.info(
        "report %s: %d DICOM result object(s) stored, %d sent", report_id, len(stored), sent
    )
    return Published(stored, sent)
