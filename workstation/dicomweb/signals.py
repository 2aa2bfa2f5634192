"""Hooks into the rest of the project, connected once at start-up (``DicomwebConfig.ready``).

Kept here so that ingest, drafting and signing stay unaware of DICOM interoperability: a new
study asks the priors PACS for the patient's earlier studies; a saved AI draft and a signed
report become DICOM objects (and go to the results PACS on signing). Each only queues a Celery
task after commit, and only when its setting turns it on.
"""

from __future__ import annotations

import logging
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models.signals import post_save

# Imported here so that a worker, which loads the apps, knows the tasks.
from workstation.dicomweb.tasks import ai_results_publish, priors_fetch

logger = logging.getLogger(__name__)


def _send_after_commit(task: Any, *args: object) -> None:
    def send() -> None:
        try:
            task.delay(*args)
        except Exception as exc:  # kombu raises transport-specific errors when Redis is down
            logger.warning("task %s%r not queued: %s", task.name, args, exc)

    transaction.on_commit(send)


def study_received(sender: Any, instance: Any, created: bool, **kwargs: Any) -> None:
    if created and settings.PRIORS_PACS_PORT:
        _send_after_commit(priors_fetch, instance.study_uid)


def ai_draft_saved(sender: Any, instance: Any, created: bool, **kwargs: Any) -> None:
    if created and settings.AI_RESULTS_DICOM:
        _send_after_commit(ai_results_publish, instance.version.report_id, False)


def report_version_saved(sender: Any, instance: Any, created: bool, **kwargs: Any) -> None:
    from reports.models import VersionKind

    if created and instance.kind == VersionKind.SIGNED and settings.AI_RESULTS_DICOM:
        _send_after_commit(ai_results_publish, instance.report_id, True)


def connect() -> None:
    from reports.models import AiDraft, ReportVersion
    from workstation.studies.models import Study

    post_save.connect(study_received, sender=Study, dispatch_uid="dicomweb-priors")
    post_save.connect(ai_draft_saved, sender=AiDraft, dispatch_uid="dicomweb-ai-draft")
    post_save.connect(report_version_saved, sender=ReportVersion, dispatch_uid="dicomweb-signed")
