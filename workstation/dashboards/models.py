"""What the dashboards store beyond the clinical records: per-draft assessments (the labeller's
reading, which SQL cannot compute), drift references and runs, A/B experiments."""

from __future__ import annotations

from enum import StrEnum

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

from reports.models import AiDraft
from workstation.studies.models import Study


class DraftAssessment(models.Model):
    """The labeller's reading of one AI draft against its own detection head
    (``inference.qa.hallucinations``), computed once per draft so SQL can aggregate it."""

    ai_draft = models.OneToOneField(AiDraft, on_delete=models.CASCADE, related_name="assessment")
    hallucinated = models.JSONField(default=list)  # labels stated positive, not detected
    computed_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return f"assessment of AI draft {self.ai_draft_id}"


class DriftReference(models.Model):
    """Image embeddings of a model version's reference set, stored as a ``.npy`` file
    (float32, shape (count, dim)) under ``DRIFT_DIR``."""

    model_version = models.CharField(max_length=128, unique=True)
    embeddings_path = models.CharField(max_length=500)
    sha256 = models.CharField(max_length=64)
    count = models.PositiveIntegerField()
    dim = models.PositiveIntegerField()
    bandwidth = models.FloatField()  # RBF kernel width: median pairwise distance (heuristic)
    source = models.CharField(max_length=200)  # how the reference set was made
    created_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return f"drift reference of {self.model_version} ({self.count})"


class DriftRun(models.Model):
    """One drift check: image-embedding MMD and label chi-square, with their verdicts."""

    model_version = models.CharField(max_length=128)
    reference = models.ForeignKey(
        DriftReference, null=True, blank=True, on_delete=models.SET_NULL, related_name="runs"
    )
    computed_at = models.DateTimeField(default=timezone.now)
    window_start = models.DateTimeField()
    window_end = models.DateTimeField()
    recent_count = models.PositiveIntegerField(default=0)
    mmd2 = models.FloatField(null=True, blank=True)  # unbiased MMD^2 estimate
    mmd_threshold = models.FloatField(null=True, blank=True)
    mmd_p_value = models.FloatField(null=True, blank=True)  # share of null splits >= mmd2
    false_alarm_rate = models.FloatField()
    permutations = models.PositiveIntegerField(default=0)
    embedding_alarm = models.BooleanField(default=False)
    label_counts = models.JSONField(default=dict)  # {"recent": {...}, "baseline": {...}}
    label_chi2 = models.FloatField(null=True, blank=True)
    label_dof = models.PositiveIntegerField(null=True, blank=True)
    label_p_value = models.FloatField(null=True, blank=True)
    label_alarm = models.BooleanField(default=False)
    note = models.TextField(blank=True, default="")  # why a part could not be computed

    class Meta:
        indexes = [models.Index(fields=["-computed_at"], name="driftrun_recent_idx")]

    def __str__(self) -> str:
        return f"drift run {self.pk} of {self.model_version}"


class ExperimentStatus(StrEnum):
    RUNNING = "running"
    STOPPED = "stopped"
    PROMOTED = "promoted"  # the candidate was promoted (an explicit, audited action)


class Arm(StrEnum):
    CONTROL = "control"
    CANDIDATE = "candidate"


class AbExperiment(models.Model):
    """A candidate model version drafting a randomised share of studies next to the serving one."""

    name = models.CharField(max_length=100, unique=True)
    control_version = models.CharField(max_length=128)
    candidate_version = models.CharField(max_length=128)
    fraction = models.FloatField()  # share of studies assigned to the candidate, 0..1
    status = models.CharField(
        max_length=16,
        choices=[(s.value, s.value) for s in ExperimentStatus],
        default=ExperimentStatus.RUNNING,
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    started_at = models.DateTimeField(default=timezone.now)
    promoted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    promoted_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=Q(fraction__gte=0.0, fraction__lte=1.0), name="abexperiment_fraction"
            ),
            models.UniqueConstraint(
                fields=["status"],
                condition=Q(status=ExperimentStatus.RUNNING),
                name="abexperiment_one_running",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name}: {self.control_version} vs {self.candidate_version}"


class AbAssignment(models.Model):
    """Which arm a study was randomised to, with the uniform draw that decided it."""

    experiment = models.ForeignKey(
        AbExperiment, on_delete=models.CASCADE, related_name="assignments"
    )
    study = models.ForeignKey(Study, on_delete=models.CASCADE, related_name="ab_assignments")
    arm = models.CharField(max_length=16, choices=[(a.value, a.value) for a in Arm])
    model_version = models.CharField(max_length=128)
    draw = models.FloatField()  # uniform 0..1; candidate when draw < fraction
    assigned_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["experiment", "study"], name="abassignment_unique")
        ]

    def __str__(self) -> str:
        return f"{self.study_id} -> {self.arm}"


class ShadowDraft(models.Model):
    """A candidate model's draft of a study, made in the background and never shown to
    radiologists: only its agreement with the serving draft and the signed report is."""

    study = models.ForeignKey(Study, on_delete=models.CASCADE, related_name="shadow_drafts")
    model_version = models.CharField(max_length=128)
    findings = models.JSONField(default=list)  # [{"label", "confidence"}] detected
    text = models.TextField(blank=True, default="")
    processing_time_ms = models.FloatField()
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["study", "model_version"], name="shadowdraft_unique")
        ]

    def __str__(self) -> str:
        return f"shadow draft of {self.study_id} by {self.model_version}"


class ShadowRun(models.Model):
    """A registered candidate model drafting every study in the background, started and
    stopped by an administrator on the A/B page (audited). One runs at a time."""

    model_version = models.CharField(max_length=128)  # "name:version" in the model registry
    started_at = models.DateTimeField(default=timezone.now)
    started_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    running = models.BooleanField(default=True)
    stopped_at = models.DateTimeField(null=True, blank=True)
    stopped_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["running"], condition=Q(running=True), name="shadowrun_one_running"
            )
        ]

    def __str__(self) -> str:
        return f"shadow run of {self.model_version}"
