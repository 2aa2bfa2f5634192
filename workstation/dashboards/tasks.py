"""Celery tasks of the dashboards: thin wrappers around their services."""

from __future__ import annotations

from celery import shared_task

from workstation.dashboards.drift import drift_run
from workstation.dashboards.shadow import shadow_draft_run


@shared_task(name="workstation.dashboards.tasks.compute_drift")
def compute_drift() -> int:
    """Periodic (beat: ``DRIFT_INTERVAL_SECONDS``): record a drift run; returns its id."""
    return int(drift_run().pk)


@shared_task(name="workstation.dashboards.tasks.shadow_draft", acks_late=True)
def shadow_draft(study_id: int) -> int | None:
    """Draft one study with the shadow model; returns the shadow draft's id (None: skipped)."""
    shadow = shadow_draft_run(study_id=study_id)
    return shadow.pk if shadow is not None else None
