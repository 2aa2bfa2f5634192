"""A department's history with set timestamps, written straight into the records the
dashboards read (study, report versions, AI draft, signature, edit metrics)."""

from __future__ import annotations

import datetime as dt
import hashlib
import itertools
from collections.abc import Sequence
from dataclasses import dataclass, field

from django.contrib.auth.models import AbstractUser

from inference.model_registry.models import ModelVersion
from reports.models import (
    AiDraft,
    Report,
    ReportMetrics,
    ReportStatus,
    ReportVersion,
    VersionKind,
)
from workstation.studies.models import Patient, Study, StudyStatus

MODEL_VERSION = "reference-demo:demo-1"
DAY = dt.datetime(2026, 3, 2, tzinfo=dt.UTC)
_serial = itertools.count(1)


@dataclass(frozen=True)
class AiFinding:
    label: str
    confidence: float
    critical: bool = False


@dataclass
class Case:
    received: dt.datetime
    modality: str = "CR"
    stat: bool = False
    draft_after_s: float | None = None  # None: no AI draft
    draft_text: tuple[str, str] = ("", "")  # findings, impression
    findings: Sequence[AiFinding] = ()
    processing_ms: float = 1000.0
    qa_flags: Sequence[dict[str, object]] = ()
    model_version: str = MODEL_VERSION
    rejected_by: AbstractUser | None = None
    signed_by: AbstractUser | None = None
    sign_after_draft_s: float = 0.0
    signed_text: tuple[str, str] = ("", "")
    char_distance: float = 0.0
    word_distance: float = 0.0
    signed_labels: Sequence[str] = ()
    findings_removed: Sequence[str] = ()
    created: dict[str, object] = field(default_factory=dict)


def _version(report: Report, number: int, kind: VersionKind, **fields: object) -> ReportVersion:
    digest = hashlib.sha256(f"{report.pk}:{number}".encode()).hexdigest()
    return ReportVersion.objects.create(
        report=report, number=number, kind=kind, content_sha256=digest, **fields
    )


def build(case: Case) -> Study:
    """Write one case; returns its study (``case.created`` gets the report's id)."""
    n = next(_serial)
    patient, _ = Patient.objects.get_or_create(patient_id=f"P{n}")
    study = Study.objects.create(
        study_uid=f"1.2.826.0.1.3680043.10.999.{n}",
        patient=patient,
        modalities=case.modality,
        is_stat=case.stat,
        last_instance_at=case.received,
        status=StudyStatus.DRAFTED if case.draft_after_s is not None else StudyStatus.DRAFT_FAILED,
    )
    Study.objects.filter(pk=study.pk).update(received_at=case.received)
    if case.draft_after_s is None:
        return study
    drafted = case.received + dt.timedelta(seconds=case.draft_after_s)
    report = Report.objects.create(study=study, created_at=drafted)
    v0 = _version(
        report,
        0,
        VersionKind.AI_DRAFT,
        created_at=drafted,
        findings=case.draft_text[0],
        impression=case.draft_text[1],
        model_version=case.model_version,
    )
    AiDraft.objects.create(
        version=v0,
        backend="reference",
        model_name="reference-demo",
        model_version=case.model_version.split(":")[-1],
        processing_time_ms=case.processing_ms,
        qa_flags=list(case.qa_flags),
        findings=[
            {"label": f.label, "confidence": f.confidence, "is_critical": f.critical}
            for f in case.findings
        ],
        created_at=drafted,
    )
    number = 0
    if case.rejected_by is not None:
        number += 1
        _version(
            report,
            number,
            VersionKind.DRAFT_REJECTED,
            author=case.rejected_by,
            created_at=drafted + dt.timedelta(seconds=1),
        )
        report.ai_draft_rejected = True
    if case.signed_by is not None:
        number += 1
        signed_at = drafted + dt.timedelta(seconds=case.sign_after_draft_s)
        _version(
            report,
            number,
            VersionKind.SIGNED,
            author=case.signed_by,
            created_at=signed_at,
            findings=case.signed_text[0],
            impression=case.signed_text[1],
        )
        report.status = ReportStatus.SIGNED
        report.signed_by = case.signed_by
        report.signed_at = signed_at
        report.signed_number = number
        ReportMetrics.objects.create(
            report=report,
            char_distance=case.char_distance,
            word_distance=case.word_distance,
            signed_labels=list(case.signed_labels),
            findings_removed=list(case.findings_removed),
            label_source="labeller",
        )
        Study.objects.filter(pk=study.pk).update(status=StudyStatus.SIGNED)
    report.head_number = number
    report.save()
    case.created["report_id"] = report.pk
    return study


def register_versions(*keys: str) -> None:
    """Registry rows for ``name:version`` keys (the experiments below never load them)."""
    for key in keys:
        name, _, version = key.partition(":")
        ModelVersion.objects.get_or_create(
            name=name, version=version, defaults={"path": "/nonexistent", "sha256": "0" * 64}
        )
