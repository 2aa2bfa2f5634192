"""The retraining export: every signed report with its images, de-identified (SPEC 6, R10).

For each signed report (optionally only those signed between two dates) the service checks
the signed content's integrity, reads each stored instance (verifying its SHA-256), holds back
what may not leave (burned-in annotation not "NO" or absent, no decodable image, PHI still
found after de-identification, a report corrected after signing), de-identifies the rest with
one :class:`~reports.deid.DicomDeidentifier` for the whole export, and writes the MIMIC-CXR-JPG
layout of :mod:`reports.training_export`. The export is built in a hidden sibling folder and
renamed into place only when complete; the salt behind every pseudonym stays in memory.
"""

from __future__ import annotations

import datetime as dt
import io
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pydicom
from django.conf import settings
from django.db import transaction
from pydicom.dataset import Dataset

from inference.labeller import label_report
from inference.preprocess import PixelDataError, display_image, modality_values
from reports.deid import (
    DeidentificationError,
    DicomDeidentifier,
    PhiTerms,
    Pseudonyms,
    phi_terms_build,
    phi_terms_from_dataset,
    phi_text_scrub,
    salt_new,
)
from reports.errors import IntegrityFailure
from reports.models import Report, ReportMetrics, ReportVersion, VersionKind
from reports.services.integrity import report_integrity_verify
from reports.training_export import (
    EditsRecord,
    HeldBack,
    ImageRecord,
    StudyLabels,
    TrainingSetWriter,
)
from workstation.audit.models import AuditAction
from workstation.audit.services import audit_record
from workstation.dicom.part10 import Part10Error, split_part10
from workstation.studies.models import Instance, Study
from workstation.studies.storage import dataset_sha256, resolve

_METRIC_FIELDS = (
    "char_distance",
    "word_distance",
    "ai_labels",
    "signed_labels",
    "findings_added",
    "findings_removed",
    "accepted",
    "edited",
    "rejected",
    "added",
    "unreviewed",
    "label_source",
)


class TrainingExportError(ValueError):
    """The export cannot start (the output folder is not empty)."""


@dataclass(frozen=True)
class HeldBackInstance:
    """For the operator (stays in the hospital): which stored instance, and why."""

    study_uid: str
    instance_pk: int | None  # None: the study itself (e.g. it has no stored instance)
    reason: str


@dataclass(frozen=True)
class TrainingExportSummary:
    out_dir: Path
    studies: int  # studies written (with at least one image)
    images: int
    held_back: tuple[HeldBackInstance, ...]


def training_data_export(
    *,
    out_dir: Path,
    since: dt.date | None = None,
    until: dt.date | None = None,
    salt: bytes | None = None,
    operator: str = "",
    storage_dir: Path | None = None,
) -> TrainingExportSummary:
    """Write the retraining export of every report signed in ``since..until`` (inclusive,
    dates in the server's time zone; open-ended when ``None``) to ``out_dir``.

    ``salt`` (at least 16 bytes) keys every pseudonym, date shift and UID mapping: pass the
    same salt to get the same ids in a later export; by default a random one that is never
    stored. ``operator`` names who ran it in the audit trail. Raises ``TrainingExportError``
    when ``out_dir`` exists and is not empty, ``ValueError`` for a short salt, ``OSError``
    when the disk refuses (nothing is left behind then).
    """
    if out_dir.exists() and any(out_dir.iterdir()):
        raise TrainingExportError(f"{out_dir} is not empty: export into a new folder")
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    export = _Export(
        root=Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.partial-", dir=out_dir.parent)),
        pseudonyms=Pseudonyms(salt=salt if salt is not None else salt_new()),
        storage_dir=Path(storage_dir or settings.DICOM_STORAGE_DIR),
    )
    try:
        for report in _signed_reports(since=since, until=until):
            export.study(report)
        export.writer.finish()
        if out_dir.exists():
            out_dir.rmdir()
        export.root.rename(out_dir)
    except BaseException:
        shutil.rmtree(export.root, ignore_errors=True)
        raise
    summary = TrainingExportSummary(
        out_dir=out_dir,
        studies=len(export.exported),
        images=len(export.writer.images),
        held_back=tuple(export.held),
    )
    with transaction.atomic():
        for report, images in export.exported:
            audit_record(
                action=AuditAction.EXPORT,
                user=None,
                username=operator,
                object_type="training_export",
                object_id=str(report.pk),
                study_uid=report.study.study_uid,
                report_id=report.pk,
                detail=f"de-identified for retraining: {images} image(s)",
            )
        audit_record(
            action=AuditAction.EXPORT,
            user=None,
            username=operator,
            object_type="training_export",
            detail=(
                f"{summary.studies} studies, {summary.images} images, "
                f"{len(summary.held_back)} held back; signed {since or '...'} to {until or '...'}"
            ),
        )
    return summary


def _signed_reports(*, since: dt.date | None, until: dt.date | None) -> Iterator[Report]:
    reports = (
        Report.objects.filter(signed_at__isnull=False)
        .select_related("study", "study__patient")
        .order_by("signed_at", "pk")
    )
    if since is not None:
        reports = reports.filter(signed_at__date__gte=since)
    if until is not None:
        reports = reports.filter(signed_at__date__lte=until)
    return reports.iterator(chunk_size=200)


def _study_terms(study: Study) -> PhiTerms:
    patient = study.patient
    return phi_terms_build(
        names=(patient.name, study.referring_physician),
        identifiers=(patient.patient_id, study.accession_number),
        dates=(patient.birth_date, study.study_date),
    )


class _Export:
    def __init__(self, *, root: Path, pseudonyms: Pseudonyms, storage_dir: Path) -> None:
        self.root = root
        self.writer = TrainingSetWriter(root)
        self.pseudonyms = pseudonyms
        self.deidentifier = DicomDeidentifier(seed=pseudonyms.anonymizer_seed())
        self.storage_dir = storage_dir
        self.held: list[HeldBackInstance] = []
        self.exported: list[tuple[Report, int]] = []

    def _hold(self, report: Report, instance: Instance | None, reason: str) -> None:
        study = report.study
        self.writer.held_back.append(
            HeldBack(
                dicom_id=self.pseudonyms.dicom(instance.sop_uid) if instance else "",
                subject_id=self.pseudonyms.subject(_patient_key(study)),
                study_id=self.pseudonyms.study(study.study_uid),
                reason=reason,
            )
        )
        self.held.append(
            HeldBackInstance(study.study_uid, instance.pk if instance else None, reason)
        )

    def study(self, report: Report) -> None:
        study = report.study
        instances = list(
            Instance.objects.filter(series__study=study).order_by(
                "series__series_number", "series__pk", "instance_number", "pk"
            )
        )
        refusal = _report_refusal(report)
        if not instances:
            self._hold(report, None, refusal or "the study has no stored instance")
            return
        if refusal:
            for instance in instances:
                self._hold(report, instance, refusal)
            return
        loaded: list[tuple[Instance, Dataset]] = []
        terms = _study_terms(study)
        for instance in instances:
            ds_or_reason = self._load(instance)
            if isinstance(ds_or_reason, str):
                self._hold(report, instance, ds_or_reason)
                continue
            loaded.append((instance, ds_or_reason))
            terms = terms.merged(phi_terms_from_dataset(ds_or_reason))
        dicom_ids = tuple(
            dicom_id
            for instance, ds in loaded
            if (dicom_id := self._image(report, instance, ds, terms)) is not None
        )
        if dicom_ids:
            self._texts(report, dicom_ids, terms)
            self.exported.append((report, len(dicom_ids)))

    def _load(self, instance: Instance) -> Dataset | str:
        """The stored dataset, or why it cannot be exported."""
        try:
            data = resolve(self.storage_dir, instance.storage_path).read_bytes()
            if dataset_sha256(split_part10(data).dataset_bytes) != instance.sha256:
                return "the stored file does not match its SHA-256"
            return pydicom.dcmread(io.BytesIO(data))
        except (OSError, ValueError, Part10Error):
            return "the stored file cannot be read"
        except Exception:  # pydicom raises many types on a corrupt dataset
            return "the stored file cannot be decoded"

    def _image(
        self, report: Report, instance: Instance, ds: Dataset, terms: PhiTerms
    ) -> str | None:
        """De-identify and write one instance; its pseudo dicom id, or None if held back."""
        burned_in = str(ds.get("BurnedInAnnotation", "") or "").strip().upper()
        if burned_in != "NO":
            reason = f"BurnedInAnnotation is {burned_in or 'absent'}: text may be in the pixels"
            self._hold(report, instance, reason)
            return None
        try:
            pixels = display_image(ds, modality_values(ds))
        except (PixelDataError, AttributeError, ValueError) as exc:
            self._hold(report, instance, f"no displayable image ({type(exc).__name__})")
            return None
        study = report.study
        subject = self.pseudonyms.subject(_patient_key(study))
        description = ds.get("PerformedProcedureStepDescription") or ds.get("StudyDescription")
        procedure = phi_text_scrub(str(description or ""), terms=terms)
        try:
            self.deidentifier.deidentify(
                ds,
                shift_days=self.pseudonyms.date_shift_days(_patient_key(study)),
                pseudo_patient_id=str(subject),
            )
        except DeidentificationError:
            self._hold(report, instance, "de-identification failed on a malformed value")
            return None
        residue = self.deidentifier.residue(ds, terms=terms)
        if residue:
            self._hold(report, instance, f"PHI left after de-identification in {residue}")
            return None
        record = ImageRecord(
            dicom_id=self.pseudonyms.dicom(instance.sop_uid),
            subject_id=subject,
            study_id=self.pseudonyms.study(study.study_uid),
            procedure=procedure,
            view_position=str(ds.get("ViewPosition", "") or ""),
            rows=int(ds.Rows),
            columns=int(ds.Columns),
            study_date=str(ds.get("StudyDate", "") or ""),
            study_time=str(ds.get("StudyTime", "") or ""),
        )
        self.writer.image_write(record, pixels=pixels, ds=ds)
        return record.dicom_id

    def _texts(self, report: Report, dicom_ids: tuple[str, ...], terms: PhiTerms) -> None:
        study = report.study
        subject = self.pseudonyms.subject(_patient_key(study))
        study_id = self.pseudonyms.study(study.study_uid)
        assert report.signed_number is not None  # only signed reports come here
        signed = ReportVersion.objects.get(report=report, number=report.signed_number)
        draft = ReportVersion.objects.filter(report=report, kind=VersionKind.AI_DRAFT).first()
        metrics = ReportMetrics.objects.filter(report=report).first()
        self.writer.report_write(
            subject_id=subject, study_id=study_id, text=_report_file(signed, terms)
        )
        self.writer.studies.append(StudyLabels(subject, study_id, label_report(signed.text)))
        self.writer.edits.append(
            EditsRecord(
                subject_id=subject,
                study_id=study_id,
                dicom_ids=dicom_ids,
                model_version=draft.model_version if draft else "",
                ai_draft=phi_text_scrub(draft.text, terms=terms) if draft else None,
                signed=phi_text_scrub(signed.text, terms=terms),
                metrics=(
                    {name: getattr(metrics, name) for name in _METRIC_FIELDS} if metrics else None
                ),
                decisions=tuple(
                    {"label": d.label, "decision": d.decision, "confidence": d.confidence}
                    for d in signed.decisions.all()
                ),
            )
        )


def _patient_key(study: Study) -> str:
    return f"{study.patient.issuer}\x00{study.patient.patient_id}"


def _report_refusal(report: Report) -> str:
    """Why the report's text may not be used for training; "" when it may."""
    try:
        versions = report_integrity_verify(report=report)
    except IntegrityFailure:
        return "the signed report fails its integrity check"
    if any(v.kind == VersionKind.CORRECTION for v in versions[1:]):
        return "the report was corrected after signing"
    return ""


def _report_file(signed: ReportVersion, terms: PhiTerms) -> str:
    """MIMIC-CXR's report file shape: a title, then one paragraph per section."""
    sections = (
        ("FINDINGS", signed.findings),
        ("IMPRESSION", signed.impression),
        ("RECOMMENDATIONS", signed.recommendations),
    )
    body = "\n\n".join(
        f"{title}: {phi_text_scrub(text.strip(), terms=terms)}"
        for title, text in sections
        if text.strip()
    )
    return f"FINAL REPORT\n\n{body}\n"
