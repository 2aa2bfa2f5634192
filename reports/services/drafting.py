"""The AI draft, radiologists' saves, and rejecting the AI draft."""

from collections.abc import Sequence

from django.contrib.auth.models import User
from django.db import transaction
from django.utils import timezone

from reports.content import (
    AiFinding,
    FindingVerdict,
    Sections,
)
from reports.errors import (
    InvalidContent,
    ReportStateError,
)
from reports.models import (
    Decision,
    Report,
    ReportVersion,
    VersionKind,
)
from reports.services.base import (
    based_on_check,
    claim_check,
    claim_refresh,
    decisions_merge,
    decisions_of,
    report_locked,
    require_reporter,
    version_write,
)
from workstation.audit.models import AuditAction
from workstation.audit.services import audit_record
from workstation.studies.models import Study, StudyStatus


def report_draft_save(
    *,
    study: Study,
    findings: str,
    impression: str,
    recommendations: str,
    model_version: str,
    ai_findings: Sequence[AiFinding],
) -> ReportVersion:
    """Store the AI draft as version 0 of the study's report (creating the report).

    Raises ``ReportStateError`` when the report already has versions (a draft arrives once;
    a human save before it wins) and ``InvalidContent`` on a repeated label or an empty
    model version.
    """
    if not model_version:
        raise InvalidContent("an AI draft names its model version")
    labels = [str(f.label) for f in ai_findings]
    if len(set(labels)) != len(labels):
        raise InvalidContent("each label may be proposed once")
    now = timezone.now()
    with transaction.atomic():
        report, _ = Report.objects.get_or_create(study=study)
        report = report_locked(report)
        if report.head_number is not None:
            raise ReportStateError(f"report {report.pk} already has version {report.head_number}")
        version = version_write(
            report=report,
            number=0,
            kind=VersionKind.AI_DRAFT,
            author=None,
            sections=Sections(findings, impression, recommendations),
            decisions=[
                FindingVerdict(f.label, Decision.PROPOSED, f.text, f.confidence)
                for f in ai_findings
            ],
            based_on=None,
            model_version=model_version,
            now=now,
        )
        report.save(update_fields=["head_number"])
        Study.objects.filter(
            pk=study.pk,
            status__in=[
                StudyStatus.RECEIVING,
                StudyStatus.WAITING_FOR_AI,
                StudyStatus.DRAFT_FAILED,
            ],
        ).update(status=StudyStatus.DRAFTED)
    return version


def report_version_save(
    *,
    report: Report,
    author: User,
    based_on_version: int | None,
    findings: str,
    impression: str,
    recommendations: str = "",
    decisions: Sequence[FindingVerdict] = (),
) -> ReportVersion:
    """Save an edit as a new version; claims (or refreshes the claim on) the report.

    ``based_on_version`` is the version number the editor started from (``None`` for a
    report without versions). Raises ``NotAllowed``, ``StaleVersion`` (someone saved in
    between), ``ReportClaimed``, ``ReportStateError`` (signed) or ``InvalidContent``.
    """
    require_reporter(author)
    now = timezone.now()
    with transaction.atomic():
        report = report_locked(report)
        if report.is_signed:
            raise ReportStateError("the report is signed: add an addendum instead")
        claim_check(report, author, now)
        head = based_on_check(report, based_on_version)
        version = version_write(
            report=report,
            number=(head.number + 1) if head is not None else 1,
            kind=VersionKind.EDIT,
            author=author,
            sections=Sections(findings, impression, recommendations),
            decisions=decisions_merge(decisions_of(head), decisions),
            based_on=based_on_version,
            now=now,
        )
        claim_refresh(report, author, now)
        report.save(update_fields=["head_number", "claimed_by", "claim_expires_at"])
        audit_record(
            action=AuditAction.EDIT,
            user=author,
            object_type="report",
            object_id=str(report.pk),
            study_uid=report.study.study_uid,
            report_id=report.pk,
            detail=f"version {version.number}",
        )
    return version


def report_reject_draft(
    *, report: Report, user: User, based_on_version: int | None, reason: str = ""
) -> ReportVersion:
    """Record that the radiologist discarded the AI draft to write their own.

    Appends a version with empty sections and every AI finding ``rejected``; the
    radiologist's own text follows as ordinary saves. Raises ``ReportStateError`` when there
    is no AI draft, it was already rejected, or the report is signed.
    """
    require_reporter(user)
    now = timezone.now()
    with transaction.atomic():
        report = report_locked(report)
        if report.is_signed:
            raise ReportStateError("the report is signed")
        if report.ai_draft_rejected:
            raise ReportStateError("the AI draft was already rejected")
        if not ReportVersion.objects.filter(report=report, kind=VersionKind.AI_DRAFT).exists():
            raise ReportStateError("the report has no AI draft to reject")
        claim_check(report, user, now)
        head = based_on_check(report, based_on_version)
        assert head is not None
        rejected = [
            FindingVerdict(v.label, Decision.REJECTED, v.text, v.confidence)
            if v.decision is Decision.PROPOSED
            else v
            for v in decisions_of(head).values()
        ]
        version = version_write(
            report=report,
            number=head.number + 1,
            kind=VersionKind.DRAFT_REJECTED,
            author=user,
            sections=Sections("", "", ""),
            decisions=rejected,
            based_on=based_on_version,
            now=now,
        )
        report.ai_draft_rejected = True
        claim_refresh(report, user, now)
        report.save(
            update_fields=["head_number", "ai_draft_rejected", "claimed_by", "claim_expires_at"]
        )
        audit_record(
            action=AuditAction.REJECT_DRAFT,
            user=user,
            object_type="report",
            object_id=str(report.pk),
            study_uid=report.study.study_uid,
            report_id=report.pk,
            detail=reason[:500],
        )
    return version
