"""Shared steps of every report write: locking, version checks, claims, appending a version."""

import datetime as dt
from collections.abc import Sequence

from django.conf import settings
from django.contrib.auth.models import User

from reports.content import (
    FindingVerdict,
    Sections,
    VersionContent,
    content_sha256,
)
from reports.errors import (
    InvalidContent,
    NotAllowed,
    ReportClaimed,
    ReportStateError,
    StaleVersion,
)
from reports.models import (
    Decision,
    FindingDecision,
    Report,
    ReportVersion,
    VersionKind,
)

REPORT_PERMISSION = "studies.report_study"


def require_reporter(user: User) -> None:
    if not user.has_perm(REPORT_PERMISSION):
        raise NotAllowed("only radiologists write and sign reports")


def report_locked(report: Report) -> Report:
    return Report.objects.select_for_update(of=("self",)).select_related("study").get(pk=report.pk)


def head_version(report: Report) -> ReportVersion | None:
    if report.head_number is None:
        return None
    return ReportVersion.objects.select_related("author").get(
        report=report, number=report.head_number
    )


def based_on_check(report: Report, based_on_version: int | None) -> ReportVersion | None:
    """The head version, if the caller's edit started from it; raises ``StaleVersion``."""
    head = head_version(report)
    if based_on_version != report.head_number:
        if head is None:
            raise ReportStateError("the report has no versions yet: send based_on_version null")
        raise StaleVersion(
            latest_number=head.number,
            author=head.author.get_username() if head.author else "",
            created_at=head.created_at,
        )
    return head


def claim_check(report: Report, user: User, now: dt.datetime) -> None:
    if (
        report.claimed_by_id is not None
        and report.claimed_by_id != user.pk
        and report.claim_expires_at is not None
        and report.claim_expires_at > now
    ):
        assert report.claimed_by is not None
        raise ReportClaimed(
            holder=report.claimed_by.get_username(), expires_at=report.claim_expires_at
        )


def claim_refresh(report: Report, user: User, now: dt.datetime) -> None:
    report.claimed_by = user
    report.claim_expires_at = now + dt.timedelta(seconds=settings.REPORT_CLAIM_IDLE_SECONDS)


def decisions_of(version: ReportVersion | None) -> dict[str, FindingVerdict]:
    if version is None:
        return {}
    return {
        row.label: FindingVerdict(
            label=row.label,  # type: ignore[arg-type]
            decision=Decision(row.decision),
            text=row.text,
            confidence=row.confidence,
        )
        for row in version.decisions.all()
    }


def decisions_merge(
    previous: dict[str, FindingVerdict], given: Sequence[FindingVerdict]
) -> tuple[FindingVerdict, ...]:
    """The previous version's decisions with the given ones applied (confidence is kept)."""
    merged = dict(previous)
    for verdict in given:
        before = merged.get(verdict.label)
        if before is None and verdict.decision is not Decision.ADDED:
            raise InvalidContent(f"{verdict.label}: the AI did not propose it; use 'added'")
        if verdict.decision is Decision.PROPOSED:
            raise InvalidContent(f"{verdict.label}: 'proposed' is the AI's, not a decision")
        merged[verdict.label] = FindingVerdict(
            label=verdict.label,
            decision=verdict.decision,
            text=verdict.text,
            confidence=before.confidence if before is not None else None,
        )
    return tuple(merged.values())


def version_write(
    *,
    report: Report,
    number: int,
    kind: VersionKind,
    author: User | None,
    sections: Sections,
    decisions: Sequence[FindingVerdict],
    based_on: int | None,
    model_version: str = "",
    now: dt.datetime,
) -> ReportVersion:
    content = VersionContent(
        report_id=report.pk,
        study_uid=report.study.study_uid,
        number=number,
        kind=kind,
        author_id=author.pk if author is not None else None,
        created_at=now,
        sections=sections,
        model_version=model_version,
        decisions=tuple(decisions),
    )
    version = ReportVersion.objects.create(
        report=report,
        number=number,
        kind=kind,
        author=author,
        created_at=now,
        findings=sections.findings,
        impression=sections.impression,
        recommendations=sections.recommendations,
        addendum=sections.addendum,
        model_version=model_version,
        based_on=based_on,
        content_sha256=content_sha256(content),
    )
    FindingDecision.objects.bulk_create(
        FindingDecision(
            version=version,
            label=str(v.label),
            decision=str(v.decision),
            confidence=v.confidence,
            text=v.text,
        )
        for v in decisions
    )
    report.head_number = number
    return version
