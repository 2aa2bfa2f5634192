"""Read-only queries over reports."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.utils import timezone

from reports.models import Report, ReportMetrics, ReportVersion, VersionKind

AFTER_SIGNING = (VersionKind.ADDENDUM, VersionKind.CORRECTION)


@dataclass(frozen=True)
class Claim:
    holder: str
    expires_at: dt.datetime


@dataclass(frozen=True)
class ReportDetail:
    report: Report
    current: ReportVersion | None  # the head (radiologists) or the signed version (clinicians)
    addenda: tuple[ReportVersion, ...]
    versions: tuple[ReportVersion, ...]  # the whole history; empty for clinicians
    claim: Claim | None  # only while it has not lapsed
    metrics: ReportMetrics | None


def report_get(*, report_id: int) -> Report:
    """Raises ``Report.DoesNotExist``."""
    return Report.objects.select_related("study", "study__patient", "claimed_by", "signed_by").get(
        pk=report_id
    )


def report_for_study(*, study_uid: str) -> Report:
    """Raises ``Report.DoesNotExist``."""
    return Report.objects.select_related("study", "claimed_by", "signed_by").get(
        study__study_uid=study_uid
    )


def report_claim_current(*, report: Report, now: dt.datetime | None = None) -> Claim | None:
    now = now or timezone.now()
    if report.claimed_by is None or report.claim_expires_at is None:
        return None
    if report.claim_expires_at <= now:
        return None
    return Claim(holder=report.claimed_by.get_username(), expires_at=report.claim_expires_at)


def report_detail(*, report: Report, full_history: bool) -> ReportDetail:
    """The report as shown: ``full_history`` for radiologists; clinicians get the signed
    version and its addenda only."""
    versions = tuple(
        ReportVersion.objects.filter(report=report)
        .select_related("author")
        .prefetch_related("decisions")
        .order_by("number")
    )
    by_number = {v.number: v for v in versions}
    signed = by_number.get(report.signed_number) if report.signed_number is not None else None
    addenda = tuple(v for v in versions if v.kind in AFTER_SIGNING)
    if full_history:
        head = by_number.get(report.head_number) if report.head_number is not None else None
        current = signed if signed is not None else head
    else:
        current = signed
    metrics = ReportMetrics.objects.filter(report=report).first() if full_history else None
    return ReportDetail(
        report=report,
        current=current,
        addenda=addenda,
        versions=versions if full_history else (),
        claim=report_claim_current(report=report),
        metrics=metrics,
    )
