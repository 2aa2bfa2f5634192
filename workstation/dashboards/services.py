"""Services of the dashboards: the per-draft assessments SQL aggregates, and the dashboards
themselves assembled (and cached) from the selectors in :mod:`.metrics`."""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.db import connection

from inference.labels import Label
from inference.qa import hallucinations
from inference.types import Finding
from reports.models import AiDraft
from workstation.dashboards.live import live_status
from workstation.dashboards.metrics.manager import manager_tables
from workstation.dashboards.metrics.model import alerts, model_tables
from workstation.dashboards.metrics.tables import MetricsFilter, Table, table_index
from workstation.dashboards.models import DraftAssessment, DriftRun

logger = logging.getLogger(__name__)

ASSESS_BATCH = 500


def _head_findings(stored: list[dict[str, Any]]) -> list[Finding]:
    """The detection head's findings as saved with the draft (labels it does not know are
    skipped with a log line: they cannot back any statement)."""
    findings = []
    for item in stored:
        try:
            findings.append(Finding(Label(item["label"]), float(item["confidence"])))
        except (KeyError, ValueError, TypeError):
            logger.warning("dashboards: AI finding %r is not readable; ignored", item)
    return findings


def draft_assessments_refresh(*, limit: int | None = None) -> int:
    """Assess every AI draft that has no assessment yet; returns how many were written.

    The text assessed is findings + impression, as the QA step reads it when drafting.
    """
    pending = (
        AiDraft.objects.filter(assessment__isnull=True)
        .select_related("version")
        .only("id", "findings", "version__findings", "version__impression")
        .order_by("id")
    )
    written = 0
    while limit is None or written < limit:
        size = ASSESS_BATCH if limit is None else min(ASSESS_BATCH, limit - written)
        batch = list(pending[:size])
        if not batch:
            break
        rows = [
            DraftAssessment(
                ai_draft=draft,
                hallucinated=[
                    label.value
                    for label in hallucinations(
                        _head_findings(draft.findings),
                        f"{draft.version.findings} {draft.version.impression}",
                    )
                ],
            )
            for draft in batch
        ]
        DraftAssessment.objects.bulk_create(rows, ignore_conflicts=True)
        written += len(rows)
    return written


def _cached(name: str, f: MetricsFilter, compute: Any) -> Any:
    """``compute()`` cached for DASHBOARD_CACHE_SECONDS per database, dashboard and filter."""
    seconds = settings.DASHBOARD_CACHE_SECONDS
    if seconds <= 0:
        return compute()
    key = f"dashboards:{connection.settings_dict['NAME']}:{name}:{f.cache_key()}"
    value = cache.get(key)
    if value is None:
        value = compute()
        cache.set(key, value, seconds)
    return value


def manager_dashboard(f: MetricsFilter) -> dict[str, Table]:
    """The manager dashboard's tables, by name."""
    tables: dict[str, Table] = _cached("manager", f, lambda: table_index(manager_tables(f)))
    return tables


def model_dashboard(f: MetricsFilter) -> dict[str, Any]:
    """The model dashboard: tables, alert states, the latest drift run, live queue/workers.

    New drafts are assessed first, so the hallucination figures include them."""

    def compute() -> dict[str, Any]:
        draft_assessments_refresh()
        tables = table_index(model_tables(f))
        return {
            "tables": tables,
            "alerts": alerts(tables["overview"], tables["critical_sensitivity"]),
        }

    result: dict[str, Any] = dict(_cached("model", f, compute))
    result["live"] = live_status()
    result["drift"] = DriftRun.objects.order_by("-computed_at", "-pk").first()
    return result


def default_range(now: dt.datetime, days: int = 30) -> tuple[dt.datetime, dt.datetime]:
    """The last ``days`` whole UTC days up to the end of today."""
    end = (now.astimezone(dt.UTC) + dt.timedelta(days=1)).replace(
        hour=0, minute=0, second=0, microsecond=0
    )
    return end - dt.timedelta(days=days), end
