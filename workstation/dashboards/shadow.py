"""Shadow mode: a candidate model (``SHADOW_MODEL_DIR``, a reference-model directory) drafts
every study the serving model drafts, in the background on the drafting queue. Its drafts
are stored apart (:class:`ShadowDraft`) and never shown; the A/B page shows how often its
findings agree with the serving draft and how its critical-finding sensitivity against the
signed reports compares (paired: the same studies, McNemar's exact test)."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings
from django.db import connection
from scipy.stats import binomtest

from reports.models import AiDraft, Report, ReportMetrics, ReportVersion
from workstation.dashboards.models import ShadowDraft
from workstation.studies.models import Study

logger = logging.getLogger(__name__)


def shadow_enabled() -> bool:
    return bool(settings.SHADOW_MODEL_DIR)


def shadow_draft_run(*, study_id: int) -> ShadowDraft | None:
    """Draft ``study_id`` with the shadow model and store it (once per model version).

    Returns ``None`` (logged) when shadow mode is off or the study cannot be drafted.
    Raises ``ModelNotLoaded`` when the shadow model directory is incomplete."""
    from inference.backends.reference import load_backend
    from inference.services import DraftFailed, study_input_load

    if not shadow_enabled():
        return None
    backend = load_backend(str(Path(settings.SHADOW_MODEL_DIR)), settings.DRAFT_DEVICE or None)
    version = f"{backend.model_name}:{backend.version}"
    study = Study.objects.select_related("patient").get(pk=study_id)
    if ShadowDraft.objects.filter(study=study, model_version=version).exists():
        return None
    try:
        study_input, _ = study_input_load(study, image_size=int(backend.image_size))
    except DraftFailed as exc:
        logger.info("shadow: study %s not drafted: %s", study_id, exc)
        return None
    started = time.perf_counter()
    draft = backend.predict(study_input)
    shadow, _ = ShadowDraft.objects.get_or_create(
        study=study,
        model_version=version,
        defaults={
            "findings": [
                {"label": f.label.value, "confidence": round(float(f.confidence), 4)}
                for f in draft.findings
            ],
            "text": f"{draft.findings_text}\n\n{draft.impression}".strip(),
            "processing_time_ms": (time.perf_counter() - started) * 1000.0,
        },
    )
    return shadow


@dataclass(frozen=True)
class ShadowAgreement:
    model_version: str
    studies: int  # studies drafted by both
    label_agreement: float | None  # share of (study, label) decisions that agree
    exact_agreement: float | None  # share of studies with the same set of findings
    critical_positive: int  # signed reports stating a critical label (pairs)
    serving_detected: int
    shadow_detected: int
    only_serving: int  # discordant pairs: the serving model found it, the shadow did not
    only_shadow: int
    mcnemar_p: float | None

    @property
    def serving_sensitivity(self) -> float | None:
        return self.serving_detected / self.critical_positive if self.critical_positive else None

    @property
    def shadow_sensitivity(self) -> float | None:
        return self.shadow_detected / self.critical_positive if self.critical_positive else None


def shadow_agreement(*, labels: list[str], critical: list[str]) -> list[ShadowAgreement]:
    """Per shadow model version: agreement with the serving drafts over ``labels`` and the
    paired critical-finding comparison against signed reports (labeller reading)."""
    detected = "{d}.findings @> jsonb_build_array(jsonb_build_object('label', lbl))"
    sql = f"""
      WITH pairs AS (
        SELECT sd.model_version, sd.study_id, sd.findings AS shadow, ad.findings AS serving,
               m.signed_labels
          FROM {ShadowDraft._meta.db_table} sd
          JOIN {Report._meta.db_table} r ON r.study_id = sd.study_id
          JOIN {ReportVersion._meta.db_table} v0 ON v0.report_id = r.id AND v0.number = 0
          JOIN {AiDraft._meta.db_table} ad ON ad.version_id = v0.id
          LEFT JOIN {ReportMetrics._meta.db_table} m ON m.report_id = r.id),
      decisions AS (
        SELECT model_version, study_id, lbl,
               {detected.format(d="pairs").replace("pairs.findings", "serving")} AS s,
               {detected.format(d="pairs").replace("pairs.findings", "shadow")} AS c
          FROM pairs CROSS JOIN unnest(%(labels)s::text[]) lbl),
      per_study AS (
        SELECT model_version, study_id, bool_and(s = c) AS same FROM decisions
         GROUP BY model_version, study_id),
      critical AS (
        SELECT model_version, lbl,
               {detected.format(d="pairs").replace("pairs.findings", "serving")} AS s,
               {detected.format(d="pairs").replace("pairs.findings", "shadow")} AS c
          FROM pairs CROSS JOIN unnest(%(critical)s::text[]) lbl
         WHERE signed_labels @> jsonb_build_array(lbl))
      SELECT p.model_version, count(*),
             (SELECT avg((s = c)::int) FROM decisions d WHERE d.model_version = p.model_version),
             avg(p.same::int),
             (SELECT count(*) FROM critical c WHERE c.model_version = p.model_version),
             (SELECT count(*) FILTER (WHERE s) FROM critical c
               WHERE c.model_version = p.model_version),
             (SELECT count(*) FILTER (WHERE c) FROM critical c
               WHERE c.model_version = p.model_version),
             (SELECT count(*) FILTER (WHERE s AND NOT c) FROM critical c
               WHERE c.model_version = p.model_version),
             (SELECT count(*) FILTER (WHERE c AND NOT s) FROM critical c
               WHERE c.model_version = p.model_version)
        FROM per_study p GROUP BY p.model_version ORDER BY p.model_version"""
    with connection.cursor() as cursor:
        cursor.execute(sql, {"labels": labels, "critical": critical})
        rows = cursor.fetchall()
    out = []
    for version, studies, label_agree, exact, positive, s_det, c_det, only_s, only_c in rows:
        discordant = int(only_s) + int(only_c)
        p = float(binomtest(int(only_s), discordant, 0.5).pvalue) if discordant else None
        out.append(
            ShadowAgreement(
                str(version),
                int(studies),
                None if label_agree is None else float(label_agree),
                None if exact is None else float(exact),
                int(positive),
                int(s_det),
                int(c_det),
                int(only_s),
                int(only_c),
                p,
            )
        )
    return out
