"""Celery tasks of drafting: thin wrappers around ``inference.services``."""

from __future__ import annotations

from celery import shared_task
from django.db import DatabaseError

from inference import services
from workstation.studies.models import DraftJob


@shared_task(
    acks_late=True,
    reject_on_worker_lost=True,
    ignore_result=True,
    autoretry_for=(DatabaseError,),  # the database restarting: try again shortly
    retry_backoff=2,
    max_retries=5,
)
def draft_study(job_id: int) -> str:
    """Draft the study of ``job_id`` (idempotent); an unknown id is dropped with its reason."""
    try:
        return services.draft_job_run(job_id=job_id)
    except DraftJob.DoesNotExist:
        return "unknown job"
