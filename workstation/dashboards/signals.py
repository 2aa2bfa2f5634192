"""Where the dashboards listen to the clinical core: a new drafting job randomises its
study into the running A/B experiment (recorded; see ``ab.ab_assign``), and a saved AI
draft is queued for the shadow model when shadow mode is on."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db import transaction

from reports.models import AiDraft
from workstation.dashboards.ab import ab_assign
from workstation.dashboards.shadow import shadow_enabled
from workstation.studies.models import DraftJob


def draft_job_created(
    sender: type[DraftJob], instance: DraftJob, created: bool, **kwargs: Any
) -> None:
    if created:
        ab_assign(study=instance.study)


def ai_draft_saved(sender: type[AiDraft], instance: AiDraft, created: bool, **kwargs: Any) -> None:
    if not created or not shadow_enabled():
        return
    from workstation.dashboards.tasks import shadow_draft

    study_id = instance.version.report.study_id
    transaction.on_commit(lambda: shadow_draft.apply_async((study_id,), queue=settings.DRAFT_QUEUE))
