"""Re-checking stored signed content against its SHA-256 before any export."""

import logging

from reports.content import (
    content_sha256,
    stored_content,
)
from reports.errors import (
    IntegrityFailure,
    ReportStateError,
)
from reports.models import (
    Report,
    ReportVersion,
)
from workstation.audit.models import AuditAction, AuditOutcome
from workstation.audit.services import audit_record

logger = logging.getLogger(__name__)


def report_integrity_verify(*, report: Report) -> list[ReportVersion]:
    """The signed version and every later addendum, each re-hashed and compared.

    Returns them in order; raises ``IntegrityFailure`` (logged, audited) on any mismatch or
    when the report is not signed. Called before every export.
    """
    if not report.is_signed or report.signed_number is None:
        raise ReportStateError("only signed reports are exported")
    study_uid = report.study.study_uid
    versions = list(
        ReportVersion.objects.filter(report=report, number__gte=report.signed_number)
        .select_related("author")
        .order_by("number")
    )
    for version in versions:
        expected = content_sha256(stored_content(version=version, study_uid=study_uid))
        if expected != version.content_sha256:
            logger.error(
                "report %s version %s fails its integrity check (stored %s, computed %s)",
                report.pk,
                version.number,
                version.content_sha256,
                expected,
            )
            audit_record(
                action=AuditAction.EXPORT,
                user=None,
                outcome=AuditOutcome.FAILURE,
                object_type="report",
                object_id=str(report.pk),
                study_uid=study_uid,
                report_id=report.pk,
                detail=f"integrity check failed on version {version.number}",
            )
            failure = IntegrityFailure(
                "the stored signed report does not match its signature hash: export refused"
            )
            failure.audited = True
            raise failure
    return versions
