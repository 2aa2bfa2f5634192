"""The worklist as a radiologist reads it: one row per study with its AI flags (a selector).

Order: studies waiting (unsigned) longer than ``WORKLIST_ESCALATION_MINUTES`` first, flagged
"escalated", whatever their AI priority, so an AI false negative (a low score on a sick
patient) cannot sit at the bottom; then AI priority (critical first); then the oldest received.
Rows are narrowed to the user's scope, filtered, one page at a time. The AI's critical
findings and the QA verdict come from the study's ``AiDraft``; the report's status and claim
from its ``Report``; the assignee from its ``Assignment``. A fixed number of queries per page.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.db.models import BooleanField, Case, Exists, OuterRef, Q, QuerySet, Value, When
from django.utils import timezone

from reports.models import AiDraft, Assignment, Report
from reports.selectors import report_claim_current
from workstation.accounts.access import study_scope
from workstation.studies import selectors
from workstation.studies.models import Study, StudyStatus

PAGE_SIZE = 50


class WorklistFlag(StrEnum):
    """The worklist's "flag" filter."""

    CRITICAL = "critical"  # the AI detected a critical finding
    REVIEW = "review"  # QA: the AI's text and its detection head disagree
    ESCALATED = "escalated"  # waiting past WORKLIST_ESCALATION_MINUTES
    STAT = "stat"


@dataclass(frozen=True)
class WorklistRow:
    study: Study
    critical_labels: tuple[str, ...]  # the AI's positive critical findings, highest first
    requires_review: bool  # QA: the draft text and the detection head disagree
    qa_flags: tuple[str, ...]  # one line per QA flag, for the row's tooltip
    report_status: str  # draft | signed | amended, or "" without a report
    claimed_by: str  # username of the radiologist holding the claim, "" when free
    signed_at: dt.datetime | None
    assignee: str  # username of the radiologist the study is assigned to, "" when none
    escalated: bool  # unsigned past WORKLIST_ESCALATION_MINUTES: moved up, flagged

    @property
    def status_label(self) -> str:
        return str(self.study.status).replace("_", " ")

    @property
    def turnaround_end(self) -> dt.datetime | None:
        """When the clock stopped (the signature); ``None`` while it still runs."""
        return self.signed_at


@dataclass(frozen=True)
class WorklistPage:
    rows: tuple[WorklistRow, ...]
    total: int
    offset: int
    limit: int

    @property
    def previous_offset(self) -> int | None:
        return max(0, self.offset - self.limit) if self.offset > 0 else None

    @property
    def next_offset(self) -> int | None:
        return self.offset + self.limit if self.offset + self.limit < self.total else None

    @property
    def first_number(self) -> int:
        return self.offset + 1 if self.total else 0

    @property
    def last_number(self) -> int:
        return self.offset + len(self.rows)


def _ai_summary(detail: Mapping[str, Any] | None) -> tuple[tuple[str, ...], bool, tuple[str, ...]]:
    if detail is None:
        return (), False, ()
    critical = sorted(
        (f for f in detail["findings"] if f.get("is_critical")),
        key=lambda f: -float(f.get("confidence") or 0.0),
    )
    labels = tuple(f"{f['label']} {round(100 * float(f['confidence']))}%" for f in critical)
    flags = tuple(
        f"{flag.get('label', '')}: {flag.get('detail', '')}".strip(": ")
        for flag in detail["qa_flags"]
    )
    return labels, bool(detail["requires_radiologist_review"]), flags


def escalation_cutoff(now: dt.datetime | None = None) -> dt.datetime:
    """Studies received before this and still unsigned are escalated."""
    minutes = settings.WORKLIST_ESCALATION_MINUTES
    return (now or timezone.now()) - dt.timedelta(minutes=minutes)


def _escalated(cutoff: dt.datetime) -> Q:
    return Q(received_at__lt=cutoff) & ~Q(status=StudyStatus.SIGNED)


def _flagged(queryset: QuerySet[Study], flag: str, cutoff: dt.datetime) -> QuerySet[Study]:
    drafts = AiDraft.objects.filter(version__report__study=OuterRef("pk"))
    if flag == WorklistFlag.CRITICAL:
        return queryset.filter(Exists(drafts.filter(findings__contains=[{"is_critical": True}])))
    if flag == WorklistFlag.REVIEW:
        return queryset.filter(Exists(drafts.filter(requires_radiologist_review=True)))
    if flag == WorklistFlag.ESCALATED:
        return queryset.filter(_escalated(cutoff))
    if flag == WorklistFlag.STAT:
        return queryset.filter(is_stat=True)
    raise ValueError(f"unknown worklist flag {flag!r}")


def worklist_queryset(
    *,
    user: AbstractBaseUser | AnonymousUser,
    filters: selectors.StudyFilters,
    flag: str = "",
    mine: bool = False,
    now: dt.datetime | None = None,
) -> QuerySet[Study]:
    """The studies ``user`` may see, filtered, in worklist order (see the module docstring).

    ``mine`` keeps the studies assigned to ``user``; ``flag`` is a :class:`WorklistFlag` value
    (``ValueError`` otherwise). Each study is annotated with ``escalated``.
    """
    cutoff = escalation_cutoff(now)
    queryset = study_scope(user=user, queryset=selectors.study_list(filters=filters))
    if flag:
        queryset = _flagged(queryset, flag, cutoff)
    if mine:
        queryset = queryset.filter(assignment__assignee_id=user.pk)
    return queryset.annotate(
        escalated=Case(
            When(_escalated(cutoff), then=Value(True)),
            default=Value(False),
            output_field=BooleanField(),
        )
    ).order_by("-escalated", "-priority", "received_at", "pk")


def worklist_page(
    *,
    user: AbstractBaseUser | AnonymousUser,
    filters: selectors.StudyFilters,
    flag: str = "",
    mine: bool = False,
    offset: int = 0,
    limit: int = PAGE_SIZE,
) -> WorklistPage:
    """One page of the worklist ``user`` may see, filtered, in worklist order."""
    now = timezone.now()
    queryset = worklist_queryset(user=user, filters=filters, flag=flag, mine=mine, now=now)
    total = queryset.count()
    studies = list(queryset[offset : offset + limit])
    ids = [study.pk for study in studies]
    reports = {
        report.study_id: report
        for report in Report.objects.filter(study_id__in=ids).select_related("claimed_by")
    }
    drafts = {
        row["version__report__study_id"]: row
        for row in AiDraft.objects.filter(version__report__study_id__in=ids).values(
            "version__report__study_id", "findings", "qa_flags", "requires_radiologist_review"
        )
    }
    assignees = dict(
        Assignment.objects.filter(study_id__in=ids).values_list("study_id", "assignee__username")
    )
    rows = []
    for study in studies:
        report = reports.get(study.pk)
        critical, review, flags = _ai_summary(drafts.get(study.pk))
        claim = report_claim_current(report=report, now=now) if report else None
        rows.append(
            WorklistRow(
                study=study,
                critical_labels=critical,
                requires_review=review,
                qa_flags=flags,
                report_status=report.status if report else "",
                claimed_by=claim.holder if claim else "",
                signed_at=report.signed_at if report else None,
                assignee=assignees.get(study.pk, ""),
                escalated=bool(getattr(study, "escalated", False)),
            )
        )
    return WorklistPage(rows=tuple(rows), total=total, offset=offset, limit=limit)


def assignee_choices() -> list[str]:
    """Usernames of the active users who may report, for the assignment menus."""
    users = get_user_model().objects.filter(is_active=True)
    holders = users.filter(
        Q(is_superuser=True)
        | Q(groups__permissions__codename="report_study")
        | Q(user_permissions__codename="report_study")
    )
    return sorted(set(holders.values_list("username", flat=True)))
