"""Read-only queries over the audit trail."""

from __future__ import annotations

import datetime as dt
from typing import TypedDict

from django.db.models import QuerySet

from workstation.audit.models import AuditEvent


class AuditFilters(TypedDict, total=False):
    user: str  # username snapshot
    action: str
    since: dt.datetime
    until: dt.datetime
    study_uid: str
    report_id: int


def audit_event_list(*, filters: AuditFilters) -> QuerySet[AuditEvent]:
    """Events matching ``filters``, newest first; ``until`` is exclusive."""
    queryset = AuditEvent.objects.all()
    if username := filters.get("user"):
        queryset = queryset.filter(username=username)
    if action := filters.get("action"):
        queryset = queryset.filter(action=action)
    if since := filters.get("since"):
        queryset = queryset.filter(at__gte=since)
    if until := filters.get("until"):
        queryset = queryset.filter(at__lt=until)
    if study_uid := filters.get("study_uid"):
        queryset = queryset.filter(study_uid=study_uid)
    if (report_id := filters.get("report_id")) is not None:
        queryset = queryset.filter(report_id=report_id)
    return queryset.order_by("-at", "-id")
