"""Signing with re-authentication, edit metrics at signing, addenda after it."""

from collections.abc import Sequence

from django.contrib.auth.models import User
from django.db import transaction
from django.utils import timezone

from reports.content import (
    FindingVerdict,
    Sections,
)
from reports.errors import (
    InvalidContent,
    NotAllowed,
    ReportStateError,
)
from reports.metrics import edit_metrics_compute
from reports.models import (
    Report,
    ReportMetrics,
    ReportStatus,
    ReportVersion,
    VersionKind,
)
from reports.services.base import (
    based_on_check,
    claim_check,
    decisions_merge,
    decisions_of,
    head_version,
    report_locked,
    require_reporter,
    version_write,
)
from workstation.audit.models import AuditAction, AuditOutcome
from workstation.audit.services import audit_record
from workstation.notify import study_event_on_commit
from workstation.studies.models import Study, StudyStatus


def _reauthenticate(*, report: Report, user: User, password: str) -> None:
    """Check the password again; a wrong one is audited (committed) and refused."""
    if user.check_password(password):
        return
    audit_record(
        action=AuditAction.SIGN,
        user=user,
        outcome=AuditOutcome.DENIED,
        object_type="report",
        object_id=str(report.pk),
        study_uid=report.study.study_uid,
        report_id=report.pk,
        detail="re-authentication failed",
    )
    refused = NotAllowed("the password is not correct: the report was not signed")
    refused.audited = True
    raise refused


def report_sign(
    *,
    report: Report,
    user: User,
    password: str,
    based_on_version: int | None,
    sections: Sections | None = None,
    decisions: Sequence[FindingVerdict] = (),
) -> ReportVersion:
    """Sign the report: the newest text (or ``sections``, when given) becomes immutable.

    Needs the ``studies.report_study`` permission and the user's password again. Writes the
    signed version, the signature (signer, UTC time, version number), the edit metrics, and
    moves the study to ``signed``. Raises ``NotAllowed`` (role or password), ``StaleVersion``,
    ``ReportClaimed``, ``ReportStateError`` (already signed, nothing to sign) or
    ``InvalidContent`` (no findings and no impression).
    """
    require_reporter(user)
    _reauthenticate(report=report, user=user, password=password)
    now = timezone.now()
    with transaction.atomic():
        report = report_locked(report)
        if report.is_signed:
            raise ReportStateError("the report is already signed: add an addendum")
        claim_check(report, user, now)
        head = based_on_check(report, based_on_version)
        if sections is not None:
            text = sections
        elif head is not None:
            text = Sections(head.findings, head.impression, head.recommendations)
        else:
            raise ReportStateError("nothing to sign: the report has no text")
        if not (text.findings.strip() or text.impression.strip()):
            raise InvalidContent("a report needs findings or an impression to be signed")
        verdicts = decisions_merge(decisions_of(head), decisions)
        version = version_write(
            report=report,
            number=(head.number + 1) if head is not None else 1,
            kind=VersionKind.SIGNED,
            author=user,
            sections=text,
            decisions=verdicts,
            based_on=based_on_version,
            now=now,
        )
        report.status = ReportStatus.SIGNED
        report.signed_by = user
        report.signed_at = now
        report.signed_number = version.number
        report.claimed_by = None
        report.claim_expires_at = None
        report.save()
        Study.objects.filter(pk=report.study_id).update(status=StudyStatus.SIGNED)
        _metrics_store(report=report, signed=version, verdicts=verdicts)
        audit_record(
            action=AuditAction.SIGN,
            user=user,
            object_type="report",
            object_id=str(report.pk),
            study_uid=report.study.study_uid,
            report_id=report.pk,
            detail=f"version {version.number} sha256 {version.content_sha256}",
        )
        study_event_on_commit(
            event="signed", study_uid=report.study.study_uid, status=StudyStatus.SIGNED
        )
    return version


def _metrics_store(
    *, report: Report, signed: ReportVersion, verdicts: Sequence[FindingVerdict]
) -> ReportMetrics | None:
    draft = ReportVersion.objects.filter(report=report, kind=VersionKind.AI_DRAFT).first()
    if draft is None:
        return None  # written without an AI draft: nothing to compare
    metrics = edit_metrics_compute(
        draft_text=draft.text, signed_text=signed.text, decisions=verdicts
    )
    return ReportMetrics.objects.create(
        report=report,
        char_distance=metrics.char_distance,
        word_distance=metrics.word_distance,
        ai_labels=[str(x) for x in metrics.ai_labels],
        signed_labels=[str(x) for x in metrics.signed_labels],
        findings_added=[str(x) for x in metrics.findings_added],
        findings_removed=[str(x) for x in metrics.findings_removed],
        accepted=metrics.accepted,
        edited=metrics.edited,
        rejected=metrics.rejected,
        added=metrics.added,
        unreviewed=metrics.unreviewed,
        label_source="labeller",
    )


def report_addendum_add(
    *, report: Report, author: User, text: str, is_correction: bool = False
) -> ReportVersion:
    """Append an addendum (or a correction) to a signed report; the signed text stays.

    Raises ``NotAllowed``, ``ReportStateError`` (not signed yet) or ``InvalidContent``.
    """
    require_reporter(author)
    if not text.strip():
        raise InvalidContent("an addendum needs text")
    now = timezone.now()
    with transaction.atomic():
        report = report_locked(report)
        if not report.is_signed:
            raise ReportStateError("the report is not signed: edit it instead")
        head = head_version(report)
        assert head is not None
        version = version_write(
            report=report,
            number=head.number + 1,
            kind=VersionKind.CORRECTION if is_correction else VersionKind.ADDENDUM,
            author=author,
            sections=Sections("", "", "", text),
            decisions=(),
            based_on=head.number,
            now=now,
        )
        report.status = ReportStatus.AMENDED
        report.save(update_fields=["head_number", "status"])
        audit_record(
            action=AuditAction.ADDENDUM,
            user=author,
            object_type="report",
            object_id=str(report.pk),
            study_uid=report.study.study_uid,
            report_id=report.pk,
            detail=f"version {version.number}{' (correction)' if is_correction else ''}",
        )
    return version
