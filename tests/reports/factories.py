"""Report test data: studies and AI drafts written through the real services."""

from __future__ import annotations

import itertools

from django.utils import timezone

from inference.labels import Label
from reports import services
from reports.content import AiFinding
from reports.models import Report, ReportVersion
from workstation.studies.models import Patient, Study, StudyStatus

_counter = itertools.count(1)

DRAFT_FINDINGS = "Small right pleural effusion. Heart size is normal. No pneumothorax."
DRAFT_IMPRESSION = "Small right pleural effusion."


def study_make(
    *, patient_name: str = "Doe^Jane", status: str = StudyStatus.WAITING_FOR_AI
) -> Study:
    n = next(_counter)
    patient, _ = Patient.objects.get_or_create(
        patient_id=f"MRN{n:05d}", issuer="", defaults={"name": patient_name, "sex": "F"}
    )
    return Study.objects.create(
        study_uid=f"1.2.826.0.1.3680043.8.498.{n}",
        patient=patient,
        accession_number=f"ACC{n:04d}",
        modalities="CR",
        status=status,
        last_instance_at=timezone.now(),
    )


def draft_make(*, study: Study | None = None, findings: str = DRAFT_FINDINGS) -> ReportVersion:
    """Version 0 of a new report: the AI proposed a pleural effusion and cardiomegaly."""
    return services.report_draft_save(
        study=study or study_make(),
        findings=findings,
        impression=DRAFT_IMPRESSION,
        recommendations="",
        model_version="demo-1.0",
        ai_findings=[
            AiFinding(Label.PLEURAL_EFFUSION, 0.91, "Small right pleural effusion."),
            AiFinding(Label.CARDIOMEGALY, 0.55, ""),
        ],
    )


def report_of(version: ReportVersion) -> Report:
    return Report.objects.select_related("study").get(pk=version.report_id)
