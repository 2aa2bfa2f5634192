"""The model dashboard: AI latency, hallucinations, detection rates against their rolling
30-day baseline, critical-finding sensitivity against signed reports, and alert states.

Hallucinations are read from :class:`~workstation.dashboards.models.DraftAssessment` rows
(``inference.qa.hallucinations`` on each draft, written by
:func:`workstation.dashboards.services.draft_assessments_refresh`); the reference for
sensitivity is the labeller's reading of the signed text (``ReportMetrics.signed_labels``,
uncertain counted as positive), the prediction the detection head's findings in the draft.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
from dataclasses import dataclass
from enum import StrEnum

from django.conf import settings

from inference.labels import LABELS, Label
from workstation.dashboards.metrics.sql import GROUP_KEYS, fetch_for, percentile
from workstation.dashboards.metrics.tables import MetricsFilter, Table

logger = logging.getLogger(__name__)

BASELINE_DAYS = 30
FINDING_LABELS = [label.value for label in LABELS if label is not Label.NO_FINDING]
DETECTED = "ai_findings @> jsonb_build_array(jsonb_build_object('label', lbl))"


def latency(f: MetricsFilter) -> Table:
    """AI processing time per draft (ms): P50/P95/P99 per group."""
    key = GROUP_KEYS[f.group]
    rows = fetch_for(
        f,
        f"""
        SELECT {key}, count(processing_time_ms),
               {percentile(0.5, "processing_time_ms")}, {percentile(0.95, "processing_time_ms")},
               {percentile(0.99, "processing_time_ms")}, max(processing_time_ms)
          FROM cases WHERE ai_draft_id IS NOT NULL GROUP BY 1 ORDER BY 1""",
    )
    return Table(
        "latency",
        "AI drafting latency (ms)",
        (f.group.value, "drafts", "p50_ms", "p95_ms", "p99_ms", "max_ms"),
        rows,
    )


_HALLUCINATION_COLUMNS = """
       count(ai_draft_id) AS drafts,
       count(hallucinated) AS assessed,
       count(*) FILTER (WHERE jsonb_array_length(hallucinated) > 0) AS with_hallucination,
       (count(*) FILTER (WHERE jsonb_array_length(hallucinated) > 0))::float
           / NULLIF(count(hallucinated), 0) AS hallucination_rate,
       count(findings_removed) FILTER (WHERE ai_draft_id IS NOT NULL) AS signed,
       count(*) FILTER (WHERE jsonb_array_length(findings_removed) > 0
                        AND ai_draft_id IS NOT NULL) AS with_removed,
       (count(*) FILTER (WHERE jsonb_array_length(findings_removed) > 0
                         AND ai_draft_id IS NOT NULL))::float
           / NULLIF(count(findings_removed) FILTER (WHERE ai_draft_id IS NOT NULL), 0)
           AS removed_rate"""


def hallucination(f: MetricsFilter) -> Table:
    """Per group: drafts stating a finding the head did not detect, and signed reports from
    which the radiologist removed a finding the draft stated."""
    key = GROUP_KEYS[f.group]
    rows = fetch_for(
        f,
        f"SELECT {key}, {_HALLUCINATION_COLUMNS} FROM cases "
        "GROUP BY 1 HAVING count(ai_draft_id) > 0 ORDER BY 1",
    )
    return Table(
        "hallucination",
        "Hallucinations: findings in the draft text without a detection; findings removed",
        (
            f.group.value,
            "drafts",
            "assessed",
            "with_hallucination",
            "hallucination_rate",
            "signed",
            "with_removed",
            "removed_rate",
        ),
        rows,
    )


def _with_baseline(f: MetricsFilter) -> MetricsFilter:
    return dataclasses.replace(f, since=f.since - dt.timedelta(days=BASELINE_DAYS))


# One row per (draft, detected label): the drafts' findings unnested once (each label is
# proposed at most once per draft), instead of testing every label against every draft.
_DETECTIONS = """
        , detections AS (
          SELECT c.received_at, c.day, f->>'label' AS lbl
            FROM cases c CROSS JOIN jsonb_array_elements(c.ai_findings) f
           WHERE c.ai_draft_id IS NOT NULL)"""


def detection_rates(f: MetricsFilter) -> Table:
    """Per finding: share of drafts in range that detect it vs the 30 days before ``since``."""
    rows = fetch_for(
        _with_baseline(f),
        f"""{_DETECTIONS}
        , labels AS (SELECT unnest(%(labels)s::text[]) AS lbl)
        , totals AS (
          SELECT count(*) FILTER (WHERE received_at >= %(start)s) AS drafts,
                 count(*) FILTER (WHERE received_at < %(start)s) AS baseline_drafts
            FROM cases WHERE ai_draft_id IS NOT NULL)
        , counted AS (
          SELECT lbl, count(*) FILTER (WHERE received_at >= %(start)s) AS detected,
                 count(*) FILTER (WHERE received_at < %(start)s) AS baseline_detected
            FROM detections GROUP BY lbl)
        SELECT labels.lbl, totals.drafts, COALESCE(detected, 0),
               COALESCE(detected, 0)::float / NULLIF(totals.drafts, 0),
               totals.baseline_drafts, COALESCE(baseline_detected, 0),
               COALESCE(baseline_detected, 0)::float / NULLIF(totals.baseline_drafts, 0)
          FROM labels CROSS JOIN totals LEFT JOIN counted USING (lbl)
         ORDER BY array_position(%(labels)s::text[], labels.lbl)""",
        labels=FINDING_LABELS,
        start=f.since,
    )
    return Table(
        "detection_rates",
        f"Detection rate per finding vs the {BASELINE_DAYS} days before the range",
        (
            "finding",
            "drafts",
            "detected",
            "rate",
            "baseline_drafts",
            "baseline_detected",
            "baseline_rate",
        ),
        rows,
    )


def detection_daily(f: MetricsFilter) -> Table:
    """Per day in range and finding: detection rate and its rolling baseline (the 30 days
    before that day, pooled), by a window function over daily counts."""
    rows = fetch_for(
        _with_baseline(f),
        f"""{_DETECTIONS}
        , labels AS (SELECT unnest(%(labels)s::text[]) AS lbl)
        , days AS (
          SELECT generate_series((%(since)s AT TIME ZONE 'UTC')::date,
                                 ((%(until)s - interval '1 microsecond') AT TIME ZONE 'UTC')::date,
                                 interval '1 day')::date AS day)
        , drafts_per_day AS (
          SELECT day, count(*) AS drafts FROM cases WHERE ai_draft_id IS NOT NULL GROUP BY day)
        , detected_per_day AS (SELECT day, lbl, count(*) AS detected FROM detections GROUP BY 1, 2)
        , daily AS (
          SELECT days.day, labels.lbl, COALESCE(d.drafts, 0) AS drafts,
                 COALESCE(x.detected, 0) AS detected
            FROM days CROSS JOIN labels
            LEFT JOIN drafts_per_day d ON d.day = days.day
            LEFT JOIN detected_per_day x ON x.day = days.day AND x.lbl = labels.lbl)
        , rolling AS (
          SELECT day, lbl, drafts, detected,
                 sum(drafts) OVER w AS baseline_drafts,
                 sum(detected) OVER w AS baseline_detected
            FROM daily
          WINDOW w AS (PARTITION BY lbl ORDER BY day
                       RANGE BETWEEN INTERVAL '{BASELINE_DAYS} days' PRECEDING
                                 AND INTERVAL '1 day' PRECEDING))
        SELECT to_char(day, 'YYYY-MM-DD'), lbl, drafts, detected,
               detected::float / NULLIF(drafts, 0),
               COALESCE(baseline_drafts, 0), COALESCE(baseline_detected, 0),
               baseline_detected::float / NULLIF(baseline_drafts, 0)
          FROM rolling
         WHERE day >= (%(start)s AT TIME ZONE 'UTC')::date
         ORDER BY day, array_position(%(labels)s::text[], lbl)""",
        labels=FINDING_LABELS,
        start=f.since,
    )
    return Table(
        "detection_daily",
        f"Daily detection rate per finding with its rolling {BASELINE_DAYS}-day baseline",
        (
            "day",
            "finding",
            "drafts",
            "detected",
            "rate",
            "baseline_drafts",
            "baseline_detected",
            "baseline_rate",
        ),
        rows,
    )


def critical_sensitivity(f: MetricsFilter) -> Table:
    """Per critical label and pooled: of the signed reports that state it (labeller), the
    share whose AI draft detected it. The pooled row comes first, named ``(all critical)``."""
    rows = fetch_for(
        f,
        f"""
        , positives AS (
          SELECT c.ai_findings, s.lbl
            FROM cases c CROSS JOIN jsonb_array_elements_text(c.signed_labels) s(lbl)
           WHERE c.ai_draft_id IS NOT NULL AND s.lbl = ANY(%(labels)s::text[]))
        SELECT COALESCE(lbl, '(all critical)'), count(*) AS positives,
               count(*) FILTER (WHERE {DETECTED}) AS detected,
               (count(*) FILTER (WHERE {DETECTED}))::float / NULLIF(count(*), 0) AS sensitivity
          FROM positives
         GROUP BY ROLLUP (lbl)
         ORDER BY lbl NULLS FIRST""",
        labels=list(settings.CRITICAL_LABELS),
    )
    present = {row[0] for row in rows}
    pooled = [row for row in rows if row[0] == "(all critical)"] or [("(all critical)", 0, 0, None)]
    per_label = [row for row in rows if row[0] != "(all critical)"]
    missing = [(label, 0, 0, None) for label in settings.CRITICAL_LABELS if label not in present]
    return Table(
        "critical_sensitivity",
        "Critical-finding sensitivity against signed reports (labeller reading as reference)",
        ("finding", "signed_positive", "detected", "sensitivity"),
        pooled + per_label + missing,
    )


def overview(f: MetricsFilter) -> Table:
    """The range's headline figures, ungrouped (what the alerts read)."""
    rows = fetch_for(
        f,
        f"""
        SELECT {percentile(0.5, "processing_time_ms")}, {percentile(0.95, "processing_time_ms")},
               {percentile(0.99, "processing_time_ms")}, {_HALLUCINATION_COLUMNS}
          FROM cases""",
    )
    return Table(
        "overview",
        "Headline figures",
        (
            "p50_ms",
            "p95_ms",
            "p99_ms",
            "drafts",
            "assessed",
            "with_hallucination",
            "hallucination_rate",
            "signed",
            "with_removed",
            "removed_rate",
        ),
        rows,
    )


class AlertState(StrEnum):
    OK = "ok"
    ALERT = "alert"
    NO_DATA = "no_data"


@dataclass(frozen=True)
class Alert:
    name: str
    value: float | None
    threshold: float
    rule: str  # for people: "below 0.95"
    state: AlertState

    def as_json(self) -> dict[str, object]:
        return {
            "name": self.name,
            "value": self.value,
            "threshold": self.threshold,
            "rule": self.rule,
            "state": self.state.value,
        }


def _alert(name: str, value: float | None, threshold: float, *, above: bool) -> Alert:
    if value is None:
        state = AlertState.NO_DATA
    elif (value > threshold) if above else (value < threshold):
        state = AlertState.ALERT
    else:
        state = AlertState.OK
    rule = f"{'above' if above else 'below'} {threshold:g}"
    return Alert(name, value, threshold, rule, state)


def alerts(overview_table: Table, sensitivity_table: Table) -> list[Alert]:
    """The seed design's alert states; each one in ``alert`` is written to the log."""
    head = overview_table.as_dicts()[0]
    pooled = sensitivity_table.as_dicts()[0]
    p99 = head["p99_ms"]
    found = [
        _alert(
            "critical_sensitivity",
            pooled["sensitivity"],
            settings.ALERT_CRITICAL_SENSITIVITY_MIN,
            above=False,
        ),
        _alert(
            "p99_latency_s",
            p99 / 1000.0 if p99 is not None else None,
            settings.ALERT_P99_LATENCY_SECONDS,
            above=True,
        ),
        _alert(
            "hallucination_rate",
            head["hallucination_rate"],
            settings.ALERT_HALLUCINATION_RATE_MAX,
            above=True,
        ),
    ]
    for alert in found:
        if alert.state is AlertState.ALERT:
            logger.warning("ALERT %s = %.4g (%s)", alert.name, alert.value or 0.0, alert.rule)
    return found


def model_tables(f: MetricsFilter) -> list[Table]:
    return [
        overview(f),
        latency(f),
        hallucination(f),
        critical_sensitivity(f),
        detection_rates(f),
        detection_daily(f),
    ]
