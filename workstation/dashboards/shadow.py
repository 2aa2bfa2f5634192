"""Shadow mode: a candidate model drafts every study the serving model drafts, in the
background on the drafting queue. The candidate is a registered model version that an
administrator starts and stops on the A/B page (:class:`ShadowRun`, audited), or, for a
deployment without the page, a reference-model directory named by ``SHADOW_MODEL_DIR``
(a running shadow run wins). Its drafts are stored apart (:class:`ShadowDraft`) and never
shown; the A/B page shows how often its findings agree with the serving draft and how its
critical-finding sensitivity against the signed reports compares (paired: the same studies,
McNemar's exact test)."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.db import IntegrityError, connection, transaction
from django.utils import timezone
from scipy.stats import binomtest

from reports.models import AiDraft, Report, ReportMetrics, ReportVersion
from workstation.accounts.roles import Role, user_roles
from workstation.audit.models import AuditAction
from workstation.audit.services import audit_record
from workstation.dashboards.ab import registered_version
from workstation.dashboards.models import ShadowDraft, ShadowRun
from workstation.studies.models import Study

logger = logging.getLogger(__name__)


class ShadowError(Exception):
    """A shadow-mode action that is not allowed now; the message says why."""


def shadow_run_current() -> ShadowRun | None:
    return ShadowRun.objects.filter(running=True).first()


def shadow_enabled() -> bool:
    return bool(settings.SHADOW_MODEL_DIR) or ShadowRun.objects.filter(running=True).exists()


def shadow_model_dir() -> Path | None:
    """The directory of the model that drafts in the shadow: the running shadow run's
    registered version, else ``SHADOW_MODEL_DIR``; ``None`` when shadow mode is off or the
    run's version has left the registry (logged)."""
    run = shadow_run_current()
    if run is not None:
        row = registered_version(run.model_version)
        if row is None:
            logger.warning(
                "shadow: %s is not in the model registry; nothing drafts in the shadow",
                run.model_version,
            )
            return None
        return Path(row.path)
    return Path(settings.SHADOW_MODEL_DIR) if settings.SHADOW_MODEL_DIR else None


def _require_admin(user: AbstractBaseUser) -> None:
    if Role.ADMIN not in user_roles(user):
        raise ShadowError("only an administrator may start or stop shadow mode")


def shadow_start(*, user: AbstractBaseUser, model_version: str) -> ShadowRun:
    """Start drafting every new study with the registered ``model_version`` in the shadow
    (audited). Raises ``ShadowError``: not an administrator, not registered, one running."""
    _require_admin(user)
    if registered_version(model_version) is None:
        raise ShadowError(
            f"{model_version!r} is not in the model registry: register its directory first "
            "(manage.py register_model), so the drafting workers can load it"
        )
    try:
        with transaction.atomic():
            run = ShadowRun.objects.create(model_version=model_version, started_by_id=user.pk)
            audit_record(
                action=AuditAction.EDIT,
                user=user,
                object_type="shadow_run",
                object_id=str(run.pk),
                detail=f"shadow mode started: {model_version}",
            )
    except IntegrityError as exc:
        running = shadow_run_current()
        name = running.model_version if running is not None else "another model"
        raise ShadowError(f"{name} is already drafting in the shadow: stop it first") from exc
    return run


def shadow_stop(*, user: AbstractBaseUser) -> ShadowRun:
    """Stop the running shadow run (audited); its drafts stay for the comparison."""
    _require_admin(user)
    with transaction.atomic():
        run = ShadowRun.objects.select_for_update().filter(running=True).first()
        if run is None:
            raise ShadowError("no shadow run is running")
        run.running = False
        run.stopped_at = timezone.now()
        run.stopped_by_id = user.pk
        run.save(update_fields=["running", "stopped_at", "stopped_by"])
        audit_record(
            action=AuditAction.EDIT,
            user=user,
            object_type="shadow_run",
            object_id=str(run.pk),
            detail=f"shadow mode stopped: {run.model_version}",
        )
    return run


def shadow_draft_run(*, study_id: int) -> ShadowDraft | None:
    """Draft ``study_id`` with the shadow model and store it (once per model version).

    Returns ``None`` (logged) when shadow mode is off or the study cannot be drafted.
    Raises ``ModelNotLoaded`` when the shadow model directory is incomplete."""
    from inference.backends.reference import load_backend
    from inference.services import DraftFailed, study_input_load

    model_dir = shadow_model_dir()
    if model_dir is None:
        return None
    backend = load_backend(str(model_dir), settings.DRAFT_DEVICE or None)
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
