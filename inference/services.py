"""The Django edge of drafting: runs a drafting job for a study.

Until a drafting backend is configured (the AI engine issue), a job only records that the
study is ready for drafting; it never writes a report.
"""

from __future__ import annotations

import logging

from django.db import transaction
from django.utils import timezone

from workstation.studies.models import DraftJob, DraftJobState

logger = logging.getLogger(__name__)

FINAL_STATES = frozenset(
    {DraftJobState.DONE, DraftJobState.FAILED, DraftJobState.READY_FOR_DRAFTING}
)


def draft_job_run(*, job_id: int) -> str:
    """Run one drafting job; a job already finished is left as it is (redelivery is harmless).

    Returns the job's state afterwards. Raises ``DraftJob.DoesNotExist`` for an unknown id.
    """
    with transaction.atomic():
        job = DraftJob.objects.select_for_update().get(pk=job_id)
        if job.state in FINAL_STATES:
            logger.info("drafting job %s already %s; redelivery ignored", job_id, job.state)
            return str(job.state)
        job.attempts += 1
        job.started_at = job.started_at or timezone.now()
        job.state = DraftJobState.READY_FOR_DRAFTING
        job.finished_at = timezone.now()
        job.save(update_fields=["attempts", "started_at", "state", "finished_at"])
    logger.info("study of drafting job %s is ready for drafting (no backend configured)", job_id)
    return str(job.state)
