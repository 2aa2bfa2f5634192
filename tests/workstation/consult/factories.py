"""Consult test data: studies with an AI draft (and its evidence), signed through the real
service, and clinicians granted access."""

from __future__ import annotations

import datetime as dt
from typing import Any

from inference.labels import Label
from reports import services
from reports.content import AiFinding, FindingVerdict
from reports.models import AiDraft, Decision, Report
from tests.conftest import PASSWORD
from tests.reports.factories import draft_make, study_make
from workstation.studies.models import Patient, Study, StudyAccess

EFFUSION_FINDING: dict[str, Any] = {
    "finding": "Small right pleural effusion.",
    "label": Label.PLEURAL_EFFUSION.value,
    "confidence": 0.91,
    "severity": "mild",
    "laterality": "right",
    "bounding_box": [120, 340, 410, 620],
    "is_critical": True,
    "heatmap": "pleural_effusion.png",
    "context_contribution": None,
}
CARDIOMEGALY_FINDING: dict[str, Any] = {
    "finding": "",
    "label": Label.CARDIOMEGALY.value,
    "confidence": 0.55,
    "severity": "mild",
    "laterality": None,
    "bounding_box": [300, 300, 500, 520],
    "is_critical": False,
    "heatmap": None,
    "context_contribution": None,
}


def drafted_study(
    *,
    findings: list[dict[str, Any]] | None = None,
    text: str = "Small right pleural effusion. Heart size is normal. No pneumothorax.",
    patient: Patient | None = None,
    study_date: dt.date | None = None,
    demonstration: bool = True,
    study: Study | None = None,
) -> Study:
    """A study (``study``, else a new one without images) with AI draft version 0 and its
    evidence (effusion + cardiomegaly by default)."""
    study = study or study_make()
    if patient is not None:
        study.patient = patient
    study.study_date = study_date or dt.date(2026, 3, 2)
    study.save(update_fields=["patient", "study_date"])
    findings = [EFFUSION_FINDING, CARDIOMEGALY_FINDING] if findings is None else findings
    version = services.report_draft_save(
        study=study,
        findings=text,
        impression="",
        recommendations="",
        model_version="demo-1.0",
        ai_findings=[AiFinding(Label(f["label"]), f["confidence"], f["finding"]) for f in findings],
    )
    AiDraft.objects.create(
        version=version,
        backend="reference",
        model_name="reference-tiny",
        model_version="demo-1.0",
        demonstration=demonstration,
        processing_time_ms=10.0,
        findings=findings,
    )
    return study


def sign(study: Study, reader: Any, *, decisions: dict[str, Decision] | None = None) -> Report:
    """Sign the study's report as ``reader`` through reports.services.report_sign."""
    report = Report.objects.select_related("study").get(study=study)
    verdicts = [FindingVerdict(Label(k), v) for k, v in (decisions or {}).items()]
    services.report_sign(
        report=report,
        user=reader,
        password=PASSWORD,
        based_on_version=report.head_number,
        decisions=verdicts,
    )
    return Report.objects.select_related("study").get(pk=report.pk)


def grant(study: Study, user: Any) -> None:
    StudyAccess.objects.create(study=study, user=user)


__all__ = ["draft_make", "drafted_study", "grant", "sign"]
