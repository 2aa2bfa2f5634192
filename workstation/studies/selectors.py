"""Read-only queries over studies."""

from __future__ import annotations

import datetime as dt
from typing import TypedDict

from django.db.models import Q, QuerySet

from workstation.studies.models import Instance, Study


class StudyFilters(TypedDict, total=False):
    status: str
    modality: str
    patient_id: str
    accession_number: str
    date_from: dt.date
    date_to: dt.date
    q: str


def study_list(*, filters: StudyFilters) -> QuerySet[Study]:
    """Studies matching ``filters``, worklist order: priority first, then oldest received."""
    queryset = Study.objects.select_related("patient", "clinical_context").prefetch_related(
        "series"
    )
    if status := filters.get("status"):
        queryset = queryset.filter(status=status)
    if modality := filters.get("modality"):
        queryset = queryset.filter(modalities__icontains=modality)
    if patient_id := filters.get("patient_id"):
        queryset = queryset.filter(patient__patient_id=patient_id)
    if accession := filters.get("accession_number"):
        queryset = queryset.filter(accession_number=accession)
    if date_from := filters.get("date_from"):
        queryset = queryset.filter(study_date__gte=date_from)
    if date_to := filters.get("date_to"):
        queryset = queryset.filter(study_date__lte=date_to)
    if q := filters.get("q"):
        queryset = queryset.filter(
            Q(patient__name__icontains=q)
            | Q(patient__patient_id__icontains=q)
            | Q(accession_number__icontains=q)
            | Q(description__icontains=q)
        )
    return queryset.order_by("-priority", "received_at")


def instance_get(*, sop_uid: str) -> Instance:
    """Raises ``Instance.DoesNotExist``."""
    return Instance.objects.select_related("series__study").get(sop_uid=sop_uid)
