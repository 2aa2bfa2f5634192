"""A/B experiments: randomised assignment of studies to a candidate model version, the
per-arm comparison with its tests, and the explicit, audited promotion.

Assignment is recorded when a study's drafting job is created (``signals``). The
comparison reads which version actually drafted each study, so a study assigned to the
candidate but drafted by another version is counted (and shown) as not honoured.
"""

from __future__ import annotations

import logging
import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.db import connection, transaction
from django.utils import timezone

from reports.models import AiDraft, Report, ReportMetrics, ReportVersion
from workstation.accounts.roles import Role, user_roles
from workstation.audit.models import AuditAction
from workstation.audit.services import audit_record
from workstation.dashboards.ab_stats import (
    PROMOTION_ALPHA,
    TestResult,
    bonferroni,
    mann_whitney,
    two_proportions,
)
from workstation.dashboards.models import AbAssignment, AbExperiment, Arm, ExperimentStatus
from workstation.studies.models import Study

logger = logging.getLogger(__name__)
_draws = random.SystemRandom()


class AbError(Exception):
    """An experiment action that is not allowed now; the message says why."""


def _require_admin(user: AbstractBaseUser) -> None:
    if Role.ADMIN not in user_roles(user):
        raise AbError("only an administrator may start, stop or promote experiments")


def ab_experiment_start(
    *,
    user: AbstractBaseUser,
    name: str,
    control_version: str,
    candidate_version: str,
    fraction: float,
) -> AbExperiment:
    """Start an experiment (one runs at a time). Raises ``AbError``."""
    _require_admin(user)
    if not 0.0 < fraction < 1.0:
        raise AbError(f"the candidate's share must be between 0 and 1, got {fraction}")
    if not control_version or not candidate_version or control_version == candidate_version:
        raise AbError("name two different model versions")
    if registered_version(candidate_version) is None:
        raise AbError(
            f"the candidate {candidate_version!r} is not in the model registry: register its "
            "directory first (manage.py register_model), so the drafting workers can load it"
        )
    with transaction.atomic():
        if AbExperiment.objects.filter(status=ExperimentStatus.RUNNING).exists():
            raise AbError("an experiment is already running: stop it first")
        if AbExperiment.objects.filter(name=name).exists():
            raise AbError(f"an experiment named {name!r} exists")
        experiment = AbExperiment.objects.create(
            name=name,
            control_version=control_version,
            candidate_version=candidate_version,
            fraction=fraction,
            created_by_id=user.pk,
        )
        audit_record(
            action=AuditAction.EDIT,
            user=user,
            object_type="ab_experiment",
            object_id=str(experiment.pk),
            detail=f"started: {candidate_version} on {fraction:.0%} vs {control_version}",
        )
    return experiment


def ab_assign(*, study: Study, draw: float | None = None) -> AbAssignment | None:
    """Randomise ``study`` into the running experiment (idempotent); ``None`` when none runs.

    ``draw`` (uniform 0..1) is drawn from the system's random source unless given."""
    experiment = AbExperiment.objects.filter(status=ExperimentStatus.RUNNING).first()
    if experiment is None:
        return None
    value = _draws.random() if draw is None else draw
    candidate = value < experiment.fraction
    assignment, _ = AbAssignment.objects.get_or_create(
        experiment=experiment,
        study=study,
        defaults={
            "arm": Arm.CANDIDATE if candidate else Arm.CONTROL,
            "model_version": (
                experiment.candidate_version if candidate else experiment.control_version
            ),
            "draw": value,
        },
    )
    return assignment


def registered_version(version: str) -> Any:
    """The registry row a ``name:version`` string (as drafts record it) names, or ``None``."""
    from inference.model_registry.selectors import model_version_for_draft

    name, _, number = version.partition(":")
    if not name or not number:
        return None
    return model_version_for_draft(model_name=name, model_version=number)


def ab_candidate_model(*, study: Study) -> tuple[str, Path] | None:
    """The candidate model that drafts ``study``: ``(version, model directory)`` when the
    study is randomised to the candidate arm of the running experiment; ``None`` (the serving
    model drafts) otherwise. A candidate that left the registry since the experiment started
    is logged and the serving model drafts (the comparison counts the study as not honoured).
    """
    assignment = (
        AbAssignment.objects.filter(
            study=study, arm=Arm.CANDIDATE, experiment__status=ExperimentStatus.RUNNING
        )
        .only("model_version")
        .first()
    )
    if assignment is None:
        return None
    row = registered_version(assignment.model_version)
    if row is None:
        logger.warning(
            "A/B: study %s is in the candidate arm but %s is not in the model registry; the "
            "serving model drafts it",
            study.pk,
            assignment.model_version,
        )
        return None
    return assignment.model_version, Path(row.path)


@dataclass(frozen=True)
class ArmFigures:
    arm: Arm
    model_version: str
    assigned: int
    drafted_by_arm: int  # assigned studies the arm's model version actually drafted
    drafts: int
    rejected: int
    signed: int
    mean_char_distance: float | None
    critical_positive: int
    critical_detected: int
    turnaround_p50_s: float | None
    char_distances: list[float] = field(repr=False)
    turnarounds_s: list[float] = field(repr=False)

    @property
    def rejection_rate(self) -> float | None:
        return self.rejected / self.drafts if self.drafts else None

    @property
    def critical_sensitivity(self) -> float | None:
        return self.critical_detected / self.critical_positive if self.critical_positive else None


@dataclass(frozen=True)
class MetricTest:
    metric: str
    lower_is_better: bool
    control: float | None
    candidate: float | None
    result: TestResult
    adjusted_p: float | None

    @property
    def significant(self) -> bool:
        return self.adjusted_p is not None and self.adjusted_p < PROMOTION_ALPHA

    @property
    def verdict(self) -> str:
        if not self.significant or self.control is None or self.candidate is None:
            return "no significant difference"
        better = (self.candidate < self.control) == self.lower_is_better
        return "candidate better" if better else "candidate worse"


@dataclass(frozen=True)
class Comparison:
    experiment: AbExperiment
    arms: tuple[ArmFigures, ArmFigures]  # control, candidate
    tests: tuple[MetricTest, ...]

    @property
    def promotable(self) -> bool:
        """The p < 0.01 rule: some figure significantly better, none significantly worse."""
        verdicts = {t.verdict for t in self.tests}
        return "candidate better" in verdicts and "candidate worse" not in verdicts


def _arm_rows(experiment: AbExperiment, critical: list[str]) -> dict[str, tuple[Any, ...]]:
    sql = f"""
      SELECT a.arm, min(a.model_version), count(*),
             count(*) FILTER (WHERE v0.model_version = a.model_version),
             count(ad.id), count(*) FILTER (WHERE r.ai_draft_rejected AND ad.id IS NOT NULL),
             count(r.signed_at) FILTER (WHERE ad.id IS NOT NULL),
             avg(m.char_distance),
             COALESCE(sum((SELECT count(*) FROM unnest(%(critical)s::text[]) lbl
                            WHERE m.signed_labels @> jsonb_build_array(lbl))), 0),
             COALESCE(sum((SELECT count(*) FROM unnest(%(critical)s::text[]) lbl
                            WHERE m.signed_labels @> jsonb_build_array(lbl)
                              AND ad.findings @> jsonb_build_array(
                                  jsonb_build_object('label', lbl)))), 0),
             percentile_cont(0.5) WITHIN GROUP (
                 ORDER BY EXTRACT(EPOCH FROM (r.signed_at - s.received_at)))
                 FILTER (WHERE ad.id IS NOT NULL),
             COALESCE(array_agg(m.char_distance) FILTER (WHERE m.char_distance IS NOT NULL),
                      '{{}}'),
             COALESCE(array_agg(EXTRACT(EPOCH FROM (r.signed_at - s.received_at))::float)
                      FILTER (WHERE r.signed_at IS NOT NULL AND ad.id IS NOT NULL), '{{}}')
        FROM {AbAssignment._meta.db_table} a
        JOIN {Study._meta.db_table} s ON s.id = a.study_id
        LEFT JOIN {Report._meta.db_table} r ON r.study_id = s.id
        LEFT JOIN {ReportVersion._meta.db_table} v0 ON v0.report_id = r.id AND v0.number = 0
             AND v0.model_version = a.model_version
        LEFT JOIN {AiDraft._meta.db_table} ad ON ad.version_id = v0.id
        LEFT JOIN {ReportMetrics._meta.db_table} m ON m.report_id = r.id AND ad.id IS NOT NULL
       WHERE a.experiment_id = %(experiment)s
       GROUP BY a.arm"""
    with connection.cursor() as cursor:
        cursor.execute(sql, {"experiment": experiment.pk, "critical": critical})
        return {row[0]: row for row in cursor.fetchall()}


def _arm(arm: Arm, version: str, row: tuple[Any, ...] | None) -> ArmFigures:
    if row is None:
        return ArmFigures(arm, version, 0, 0, 0, 0, 0, None, 0, 0, None, [], [])
    _, _, assigned, honoured, drafts, rejected, signed, mean_char, pos, det, p50, chars, tat = row
    return ArmFigures(
        arm,
        version,
        int(assigned),
        int(honoured),
        int(drafts),
        int(rejected),
        int(signed),
        None if mean_char is None else float(mean_char),
        int(pos),
        int(det),
        None if p50 is None else float(p50),
        [float(x) for x in chars],
        [float(x) for x in tat],
    )


def ab_comparison(*, experiment: AbExperiment, critical_labels: list[str]) -> Comparison:
    """Per-arm figures (only studies drafted by their arm's version count) and the tests."""
    rows = _arm_rows(experiment, critical_labels)
    control = _arm(Arm.CONTROL, experiment.control_version, rows.get(Arm.CONTROL.value))
    candidate = _arm(Arm.CANDIDATE, experiment.candidate_version, rows.get(Arm.CANDIDATE.value))
    raw = [
        (
            "mean_char_distance",
            True,
            mann_whitney(control.char_distances, candidate.char_distances),
        ),
        (
            "rejection_rate",
            True,
            two_proportions(
                (control.rejected, candidate.rejected), (control.drafts, candidate.drafts)
            ),
        ),
        (
            "critical_sensitivity",
            False,
            two_proportions(
                (control.critical_detected, candidate.critical_detected),
                (control.critical_positive, candidate.critical_positive),
            ),
        ),
        ("turnaround_p50_s", True, mann_whitney(control.turnarounds_s, candidate.turnarounds_s)),
    ]
    adjusted = bonferroni([result.p_value for _, _, result in raw])
    tests = tuple(
        MetricTest(
            name,
            lower,
            getattr(control, name),
            getattr(candidate, name),
            result,
            adjusted_p,
        )
        for (name, lower, result), adjusted_p in zip(raw, adjusted, strict=True)
    )
    return Comparison(experiment, (control, candidate), tests)


def ab_promote(
    *, experiment: AbExperiment, user: AbstractBaseUser, critical_labels: list[str]
) -> AbExperiment:
    """Promote the candidate: allowed to an administrator, on a running experiment whose
    comparison meets the p < 0.01 rule. Audited.

    When drafts are served by registry name (``DRAFT_MODEL_NAME``) and the candidate is a
    version of that name, the candidate is promoted in the model registry too, under its
    release thresholds (``inference.model_registry``), and serves the next drafts; otherwise
    switching the serving model is a deployment change (``DRAFT_MODEL_DIR``) and this records
    the decision. Raises ``AbError`` (a registry refusal included, with its reason)."""
    from inference.model_registry.services import PromotionRefused, model_version_promote

    _require_admin(user)
    with transaction.atomic():
        experiment = AbExperiment.objects.select_for_update().get(pk=experiment.pk)
        if experiment.status != ExperimentStatus.RUNNING:
            raise AbError(f"the experiment is {experiment.status}, not running")
        comparison = ab_comparison(experiment=experiment, critical_labels=critical_labels)
        if not comparison.promotable:
            raise AbError(
                "the candidate does not meet the promotion rule (a figure better at "
                "Bonferroni-adjusted p < 0.01 and none worse)"
            )
    summary = "; ".join(f"{t.metric} p_adj={t.adjusted_p} {t.verdict}" for t in comparison.tests)
    name, _, version = experiment.candidate_version.partition(":")
    serving_switched = bool(settings.DRAFT_MODEL_NAME) and name == settings.DRAFT_MODEL_NAME
    if serving_switched:
        row = registered_version(experiment.candidate_version)
        try:
            model_version_promote(
                name=name,
                version=row.version if row else version,
                user=user,  # type: ignore[arg-type]
            )
        except PromotionRefused as exc:
            raise AbError(f"the model registry refused the promotion: {exc}") from exc
    with transaction.atomic():
        updated = AbExperiment.objects.filter(
            pk=experiment.pk, status=ExperimentStatus.RUNNING
        ).update(
            status=ExperimentStatus.PROMOTED, promoted_by_id=user.pk, promoted_at=timezone.now()
        )
        if not updated:
            raise AbError("the experiment stopped while it was being promoted")
        audit_record(
            action=AuditAction.EDIT,
            user=user,
            object_type="ab_experiment",
            object_id=str(experiment.pk),
            detail=f"promoted {experiment.candidate_version}"
            + (" (now serving drafts)" if serving_switched else "")
            + f": {summary}",
        )
    experiment.refresh_from_db()
    return experiment


def ab_experiment_stop(*, experiment: AbExperiment, user: AbstractBaseUser) -> AbExperiment:
    """Stop assigning studies (the records stay). Audited. Raises ``AbError``."""
    _require_admin(user)
    with transaction.atomic():
        updated = AbExperiment.objects.filter(
            pk=experiment.pk, status=ExperimentStatus.RUNNING
        ).update(status=ExperimentStatus.STOPPED)
        if not updated:
            raise AbError("the experiment is not running")
        audit_record(
            action=AuditAction.EDIT,
            user=user,
            object_type="ab_experiment",
            object_id=str(experiment.pk),
            detail="stopped",
        )
    experiment.refresh_from_db()
    return experiment
