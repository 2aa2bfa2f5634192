"""Celery tasks of DICOM interoperability: thin wrappers around their services."""

from __future__ import annotations

import logging

from celery import shared_task
from celery.app.task import Task

logger = logging.getLogger(__name__)


@shared_task(bind=True, acks_late=True, max_retries=5, default_retry_delay=60)
def priors_fetch(self: Task, study_uid: str) -> int:
    """Fetch a new study's priors from the priors PACS; retried while it is unreachable."""
    from workstation.dicom.priors import study_priors_fetch

    try:
        result = study_priors_fetch(study_uid=study_uid)
    except ConnectionError as exc:
        raise self.retry(exc=exc) from exc
    return len(result.requested) if result else 0


@shared_task(bind=True, acks_late=True, max_retries=5, default_retry_delay=60)
def ai_results_publish(self: Task, report_id: int, signed: bool) -> int:
    """Store a report's AI results (and signed text) as DICOM; send them on signing."""
    from workstation.airesults.services import ResultsNotSent
    from workstation.airesults.services import ai_results_publish as publish

    try:
        return len(publish(report_id=report_id, signed=signed).stored)
    except ResultsNotSent as exc:
        raise self.retry(exc=exc) from exc
