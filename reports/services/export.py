"""Exporting a signed report as FHIR: integrity check first, then build, then audit."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.models import User

from reports import fhir
from reports.models import Report, ReportVersion, VersionKind
from reports.services.integrity import report_integrity_verify
from workstation.audit.models import AuditAction
from workstation.audit.services import audit_record


def report_fhir_export(*, report: Report, user: User, bundle: bool) -> dict[str, Any]:
    """The signed report as a FHIR R4 DiagnosticReport (or a Bundle with its Observations).

    Raises ``ReportStateError`` for an unsigned report (drafts never leave) and
    ``IntegrityFailure`` when the stored signed content fails its SHA-256 check.
    """
    versions = report_integrity_verify(report=report)
    signed, addenda = versions[0], versions[1:]
    draft = ReportVersion.objects.filter(report=report, kind=VersionKind.AI_DRAFT).first()
    if bundle:
        resource = fhir.report_bundle(
            report=report,
            signed=signed,
            addenda=addenda,
            model_version=draft.model_version if draft else "",
        )
    else:
        resource = fhir.diagnostic_report(report=report, signed=signed, addenda=addenda)
    audit_record(
        action=AuditAction.EXPORT,
        user=user,
        object_type="fhir_bundle" if bundle else "fhir_diagnostic_report",
        object_id=str(report.pk),
        study_uid=report.study.study_uid,
        report_id=report.pk,
        detail=f"status {resource.get('status', 'bundle')}",
    )
    return resource
