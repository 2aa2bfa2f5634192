"""The manager dashboard: turnaround, rejection, edit distance, backlog, volume, STAT/critical.

Every figure is one SQL statement over ``cases`` (see :mod:`.sql`); durations in seconds,
rates as fractions 0..1, distances as stored (normalised Levenshtein 0..1).
"""

from __future__ import annotations

from workstation.dashboards.metrics.sql import GROUP_KEYS, fetch_for, percentile, seconds
from workstation.dashboards.metrics.tables import MetricsFilter, Table

RECEIVED_TO_DRAFT = seconds("drafted_at", "received_at")
DRAFT_TO_SIGNED = seconds("signed_at", "drafted_at")
RECEIVED_TO_SIGNED = seconds("signed_at", "received_at")
EDIT_BINS = 10  # the edit distance histogram's bins over 0..1


def turnaround(f: MetricsFilter) -> Table:
    """P50/P95 of received -> draft -> signed, per group (percentile_cont interpolates)."""
    key = GROUP_KEYS[f.group]
    rows = fetch_for(
        f,
        f"""
        SELECT {key} AS key, count(*) AS studies,
               count(drafted_at) AS drafted, count(signed_at) AS signed,
               {percentile(0.5, RECEIVED_TO_DRAFT)}, {percentile(0.95, RECEIVED_TO_DRAFT)},
               {percentile(0.5, DRAFT_TO_SIGNED)}, {percentile(0.95, DRAFT_TO_SIGNED)},
               {percentile(0.5, RECEIVED_TO_SIGNED)}, {percentile(0.95, RECEIVED_TO_SIGNED)}
          FROM cases GROUP BY 1 ORDER BY 1""",
    )
    return Table(
        "turnaround",
        "Turnaround, received -> draft -> signed (seconds)",
        (
            f.group.value,
            "studies",
            "drafted",
            "signed",
            "received_to_draft_p50_s",
            "received_to_draft_p95_s",
            "draft_to_signed_p50_s",
            "draft_to_signed_p95_s",
            "received_to_signed_p50_s",
            "received_to_signed_p95_s",
        ),
        rows,
    )


def quality(f: MetricsFilter) -> Table:
    """Per group: AI drafts, how many radiologists discarded (reject-draft), edit distances."""
    key = GROUP_KEYS[f.group]
    rows = fetch_for(
        f,
        f"""
        SELECT {key} AS key,
               count(ai_draft_id) AS drafts,
               count(*) FILTER (WHERE rejected AND ai_draft_id IS NOT NULL) AS rejected,
               (count(*) FILTER (WHERE rejected AND ai_draft_id IS NOT NULL))::float
                   / NULLIF(count(ai_draft_id), 0) AS rejection_rate,
               count(char_distance) AS signed_with_metrics,
               avg(char_distance) AS mean_char_distance,
               avg(word_distance) AS mean_word_distance,
               {percentile(0.5, "char_distance")} AS median_char_distance
          FROM cases GROUP BY 1 HAVING count(ai_draft_id) > 0 ORDER BY 1""",
    )
    return Table(
        "quality",
        "AI drafts: rejection rate and edit distance (normalised, 0 = unchanged)",
        (
            f.group.value,
            "drafts",
            "rejected",
            "rejection_rate",
            "signed_with_metrics",
            "mean_char_distance",
            "mean_word_distance",
            "median_char_distance",
        ),
        rows,
    )


def edit_distance_histogram(f: MetricsFilter) -> Table:
    """Signed reports per tenth of normalised character edit distance (1.0 in the last bin)."""
    rows = fetch_for(
        f,
        f"""
        , bins AS (SELECT generate_series(1, {EDIT_BINS}) AS bin)
        SELECT (bins.bin - 1)::float / {EDIT_BINS} AS lower,
               bins.bin::float / {EDIT_BINS} AS upper,
               count(cases.char_distance) AS reports
          FROM bins LEFT JOIN cases
            ON LEAST(width_bucket(cases.char_distance, 0, 1, {EDIT_BINS}), {EDIT_BINS})
               = bins.bin
         GROUP BY bins.bin ORDER BY bins.bin""",
    )
    return Table(
        "edit_distance_histogram",
        "Distribution of normalised character edit distance (signed reports)",
        ("lower", "upper", "reports"),
        rows,
    )


def awaiting_signature(f: MetricsFilter, limit: int = 200) -> Table:
    """Unsigned AI drafts, oldest first, with their age at ``now`` (no patient details)."""
    rows = fetch_for(
        f,
        f"""
        SELECT report_id, COALESCE(NULLIF(modality, ''), '(none)'), is_stat, critical,
               model_version, drafted_at, {seconds("%(now)s", "drafted_at")} AS age_s
          FROM cases
         WHERE ai_draft_id IS NOT NULL AND signed_at IS NULL
         ORDER BY drafted_at, report_id
         LIMIT %(limit)s""",
        limit=limit,
    )
    return Table(
        "awaiting_signature",
        "AI drafts awaiting signature (oldest first)",
        ("report_id", "modality", "stat", "critical", "model_version", "drafted_at", "age_s"),
        rows,
    )


def radiologist_volume(f: MetricsFilter) -> Table:
    """Per signing radiologist: reports signed, drafts discarded, edit distance, speed."""
    rows = fetch_for(
        f,
        f"""
        SELECT radiologist, count(*) AS signed,
               count(*) FILTER (WHERE rejected) AS drafts_rejected,
               avg(char_distance) AS mean_char_distance,
               {percentile(0.5, DRAFT_TO_SIGNED)} AS draft_to_signed_p50_s
          FROM cases WHERE signed_at IS NOT NULL
         GROUP BY radiologist ORDER BY count(*) DESC, radiologist""",
    )
    return Table(
        "radiologist_volume",
        "Volume per radiologist (signed in range)",
        ("radiologist", "signed", "drafts_rejected", "mean_char_distance", "draft_to_signed_p50_s"),
        rows,
    )


def urgent(f: MetricsFilter) -> Table:
    """STAT studies and studies with an AI-detected critical finding: time to signature."""
    rows = fetch_for(
        f,
        f"""
        , kinds AS (
          SELECT 'stat' AS category, * FROM cases WHERE is_stat
          UNION ALL
          SELECT 'critical' AS category, * FROM cases WHERE critical)
        SELECT category, count(*) AS studies, count(signed_at) AS signed,
               count(*) - count(signed_at) AS unsigned,
               {percentile(0.5, RECEIVED_TO_SIGNED)}, {percentile(0.95, RECEIVED_TO_SIGNED)},
               max(CASE WHEN signed_at IS NULL THEN {seconds("%(now)s", "received_at")} END)
          FROM kinds GROUP BY category ORDER BY category DESC""",
    )
    return Table(
        "urgent",
        "STAT and critical-finding studies: time to signature (seconds)",
        (
            "category",
            "studies",
            "signed",
            "unsigned",
            "received_to_signed_p50_s",
            "received_to_signed_p95_s",
            "oldest_unsigned_age_s",
        ),
        rows,
    )


def manager_tables(f: MetricsFilter) -> list[Table]:
    return [
        turnaround(f),
        quality(f),
        edit_distance_histogram(f),
        awaiting_signature(f),
        radiologist_volume(f),
        urgent(f),
    ]
