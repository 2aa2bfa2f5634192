"""The worklist as a radiologist reads it: one row per study with its AI flags (a selector).

Rows come in worklist order (``workstation.studies.selectors.study_list``: AI priority first,
then the oldest received), narrowed to the user's scope, one page at a time. The AI's critical
findings and the QA verdict come from the study's ``AiDraft``; the report's status and claim
from its ``Report``. Two queries per page, whatever its length.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.utils import timezone

from reports.models import AiDraft, Report
from reports.selectors import report_claim_current
from workstation.accounts.access import study_scope
from workstation.studies import selectors
from workstation.studies.models import Study

PAGE_SIZE = 50


@dataclass(frozen=True)
class WorklistRow:
    study: Study
    critical_labels: tuple[str, ...]  # the AI's positive critical findings, highest first
    requires_review: bool  # QA: the draft text and the detection head disagree
    qa_flags: tuple[str, ...]  # one line per QA flag, for the row's tooltip
    report_status: str  # draft | signed | amended, or "" without a report
    claimed_by: str  # username of the radiologist holding the claim, "" when free
    signed_at: dt.datetime | None

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


def worklist_page(
    *,
    user: AbstractBaseUser | AnonymousUser,
    filters: selectors.StudyFilters,
    offset: int = 0,
    limit: int = PAGE_SIZE,
) -> WorklistPage:
    """One page of the worklist ``user`` may see, filtered by ``filters``."""
    queryset = study_scope(user=user, queryset=selectors.study_list(filters=filters))
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
    now = timezone.now()
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
            )
        )
    return WorklistPage(rows=tuple(rows), total=total, offset=offset, limit=limit)
