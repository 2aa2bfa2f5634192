"""Claims: one radiologist at a time edits a report; a claim lapses when idle."""

from django.contrib.auth.models import User
from django.db import transaction
from django.utils import timezone

from reports.models import (
    Report,
)
from reports.services.base import (
    claim_check,
    claim_refresh,
    require_reporter,
)
from workstation.audit.models import AuditAction
from workstation.audit.services import audit_record
from workstation.notify import study_event_on_commit
from workstation.studies.models import Study


def report_claim(*, study: Study, user: User) -> Report:
    """Claim the study's report for ``user`` (creating an empty report if none exists).

    A claim lasts ``REPORT_CLAIM_IDLE_SECONDS`` after the last claim or save. Raises
    ``NotAllowed`` or ``ReportClaimed`` (held by someone else, not yet lapsed).
    """
    require_reporter(user)
    now = timezone.now()
    with transaction.atomic():
        report, _ = Report.objects.get_or_create(study=study)
        report = (
            Report.objects.select_for_update(of=("self",))
            .select_related("study", "claimed_by")
            .get(pk=report.pk)
        )
        claim_check(report, user, now)
        claim_refresh(report, user, now)
        report.save(update_fields=["claimed_by", "claim_expires_at"])
        audit_record(
            action=AuditAction.CLAIM,
            user=user,
            object_type="report",
            object_id=str(report.pk),
            study_uid=study.study_uid,
            report_id=report.pk,
        )
        study_event_on_commit(event="claimed", study_uid=study.study_uid, status=study.status)
    return report


def report_claim_release(*, report: Report, user: User) -> Report:
    """Give up the claim. Only its holder may (a lapsed claim needs no release)."""
    require_reporter(user)
    now = timezone.now()
    with transaction.atomic():
        report = (
            Report.objects.select_for_update(of=("self",))
            .select_related("study", "claimed_by")
            .get(pk=report.pk)
        )
        claim_check(report, user, now)
        report.claimed_by = None
        report.claim_expires_at = None
        report.save(update_fields=["claimed_by", "claim_expires_at"])
        audit_record(
            action=AuditAction.RELEASE,
            user=user,
            object_type="report",
            object_id=str(report.pk),
            study_uid=report.study.study_uid,
            report_id=report.pk,
        )
    return report
