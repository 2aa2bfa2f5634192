"""The one view of the records every dashboard query starts from, and running the queries.

``cases`` has one row per study received in the filter's range: its report, the AI draft
(version 0) with its timings and findings, the signature, the edit metrics and the
hallucination assessment. Table names come from the models, so a renamed table cannot
silently break a query.
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.db import connection

from reports.models import AiDraft, Report, ReportMetrics, ReportVersion
from workstation.dashboards.metrics.tables import Grouping, MetricsFilter
from workstation.dashboards.models import DraftAssessment
from workstation.studies.models import Study


def _t(model: Any) -> str:
    return connection.ops.quote_name(model._meta.db_table)


CASES = f"""
cases AS (
  SELECT s.id AS study_id,
         s.received_at,
         (s.received_at AT TIME ZONE 'UTC')::date AS day,
         s.modalities AS modality,
         s.is_stat,
         r.id AS report_id,
         r.signed_at,
         r.ai_draft_rejected AS rejected,
         signer.username AS radiologist,
         v0.created_at AS drafted_at,
         NULLIF(v0.model_version, '') AS model_version,
         ad.id AS ai_draft_id,
         ad.processing_time_ms,
         ad.findings AS ai_findings,
         COALESCE(ad.findings @> '[{{"is_critical": true}}]'::jsonb, false) AS critical,
         m.char_distance,
         m.word_distance,
         m.signed_labels,
         m.findings_removed,
         da.hallucinated
    FROM {_t(Study)} s
    LEFT JOIN {_t(Report)} r ON r.study_id = s.id
    LEFT JOIN {_t(ReportVersion)} v0 ON v0.report_id = r.id AND v0.number = 0
         AND v0.kind = 'ai_draft'
    LEFT JOIN {_t(AiDraft)} ad ON ad.version_id = v0.id
    LEFT JOIN {_t(ReportMetrics)} m ON m.report_id = r.id
    LEFT JOIN {_t(DraftAssessment)} da ON da.ai_draft_id = ad.id
    LEFT JOIN {_t(get_user_model())} signer ON signer.id = r.signed_by_id
   WHERE s.received_at >= %(since)s AND s.received_at < %(until)s
     AND (%(modality)s = '' OR %(modality)s = ANY(string_to_array(s.modalities, E'\\\\')))
     AND (%(model_version)s = '' OR v0.model_version = %(model_version)s)
     AND (%(radiologist)s = '' OR signer.username = %(radiologist)s)
)"""

# The grouping key of a ``cases`` row, as text (NULLs get a readable name).
GROUP_KEYS: dict[Grouping, str] = {
    Grouping.DAY: "to_char(day, 'YYYY-MM-DD')",
    Grouping.MODALITY: "COALESCE(NULLIF(modality, ''), '(none)')",
    Grouping.RADIOLOGIST: "COALESCE(radiologist, '(unsigned)')",
    Grouping.MODEL_VERSION: "COALESCE(model_version, '(no AI draft)')",
}


def seconds(later: str, earlier: str) -> str:
    """SQL for the seconds between two timestamp columns."""
    return f"EXTRACT(EPOCH FROM ({later} - {earlier}))"


def percentile(fraction: float, expression: str) -> str:
    """SQL for the continuous percentile (linear interpolation) of ``expression``."""
    return f"percentile_cont({fraction}) WITHIN GROUP (ORDER BY {expression})"


def fetch(sql: str, params: dict[str, Any]) -> list[tuple[Any, ...]]:
    """Rows of ``WITH <cases>, ... <sql>`` (``sql`` may add CTEs after a comma)."""
    with connection.cursor() as cursor:
        cursor.execute(f"WITH {CASES} {sql}", params)
        return [tuple(_plain(v) for v in row) for row in cursor.fetchall()]


def fetch_for(f: MetricsFilter, sql: str, **extra: Any) -> list[tuple[Any, ...]]:
    return fetch(sql, {**f.params(), **extra})


def _plain(value: Any) -> Any:
    """Decimals (from EXTRACT and numeric division) as floats, for JSON and CSV."""
    from decimal import Decimal

    return float(value) if isinstance(value, Decimal) else value
