"""Reports, their immutable versions, per-finding decisions and edit metrics.

Every save is a new ``ReportVersion``; the AI draft is version 0. Versions and their
decisions are never updated or deleted (PostgreSQL triggers, migration 0002), and a signed
report's signer, time and signed version number cannot change either.
"""

from __future__ import annotations

from enum import StrEnum

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

from inference.labels import Label
from workstation.studies.models import Study


class ReportStatus(StrEnum):
    DRAFT = "draft"  # no signed version yet
    SIGNED = "signed"
    AMENDED = "amended"  # signed, then an addendum or correction


class VersionKind(StrEnum):
    AI_DRAFT = "ai_draft"  # version 0, no author, carries the model version
    EDIT = "edit"  # a radiologist's save
    DRAFT_REJECTED = "draft_rejected"  # the radiologist discarded the AI draft (text emptied)
    SIGNED = "signed"
    ADDENDUM = "addendum"  # after signing: adds to the signed text
    CORRECTION = "correction"  # after signing: an addendum that corrects the signed text


class Decision(StrEnum):
    PROPOSED = "proposed"  # an AI finding nobody has reviewed yet (UNVERIFIED in exports)
    ACCEPTED = "accepted"
    EDITED = "edited"
    REJECTED = "rejected"
    ADDED = "added"  # a finding the radiologist added; the AI did not propose it


HUMAN_DECISIONS = frozenset({Decision.ACCEPTED, Decision.EDITED, Decision.ADDED})


class Report(models.Model):
    study = models.OneToOneField(Study, on_delete=models.PROTECT, related_name="report")
    status = models.CharField(
        max_length=16,
        choices=[(s.value, s.value) for s in ReportStatus],
        default=ReportStatus.DRAFT,
    )
    # Number of the newest version (None: no version yet). Saves lock the row and compare.
    head_number = models.PositiveIntegerField(null=True, blank=True)
    claimed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="claimed_reports",
    )
    claim_expires_at = models.DateTimeField(null=True, blank=True)
    ai_draft_rejected = models.BooleanField(default=False)
    signed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="signed_reports",
    )
    signed_at = models.DateTimeField(null=True, blank=True)
    signed_number = models.PositiveIntegerField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=(
                    Q(signed_at__isnull=True, signed_by__isnull=True, signed_number__isnull=True)
                    | Q(
                        signed_at__isnull=False,
                        signed_by__isnull=False,
                        signed_number__isnull=False,
                    )
                ),
                name="report_signed_fields_together",
            )
        ]

    def __str__(self) -> str:
        return f"report {self.pk} ({self.status})"

    @property
    def is_signed(self) -> bool:
        return self.signed_at is not None


class ReportVersion(models.Model):
    report = models.ForeignKey(Report, on_delete=models.PROTECT, related_name="versions")
    number = models.PositiveIntegerField()
    kind = models.CharField(max_length=16, choices=[(k.value, k.value) for k in VersionKind])
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="report_versions",
    )
    created_at = models.DateTimeField(default=timezone.now)
    findings = models.TextField(blank=True, default="")
    impression = models.TextField(blank=True, default="")
    recommendations = models.TextField(blank=True, default="")
    addendum = models.TextField(blank=True, default="")  # only addenda and corrections
    model_version = models.CharField(max_length=128, blank=True, default="")
    based_on = models.PositiveIntegerField(null=True, blank=True)
    # SHA-256 of the canonical content (reports.content); re-checked before every export.
    content_sha256 = models.CharField(max_length=64)

    class Meta:
        ordering = ["report", "number"]
        constraints = [
            models.UniqueConstraint(fields=["report", "number"], name="reportversion_unique"),
            models.CheckConstraint(
                condition=(
                    Q(kind=VersionKind.AI_DRAFT, number=0, author__isnull=True)
                    | (~Q(kind=VersionKind.AI_DRAFT) & Q(number__gt=0, author__isnull=False))
                ),
                name="reportversion_ai_draft_is_zero_and_authorless",
            ),
        ]

    def __str__(self) -> str:
        return f"report {self.report_id} v{self.number} ({self.kind})"

    @property
    def text(self) -> str:
        """The three sections as one text (what edit distance and the labeller read)."""
        return "\n\n".join(
            part
            for part in (self.findings, self.impression, self.recommendations, self.addendum)
            if part
        )


class FindingDecision(models.Model):
    version = models.ForeignKey(ReportVersion, on_delete=models.PROTECT, related_name="decisions")
    label = models.CharField(max_length=32, choices=[(label.value, label.value) for label in Label])
    decision = models.CharField(max_length=16, choices=[(d.value, d.value) for d in Decision])
    confidence = models.FloatField(null=True, blank=True)  # the AI's probability, 0..1
    text = models.TextField(blank=True, default="")

    class Meta:
        ordering = ["version", "label"]
        constraints = [
            models.UniqueConstraint(fields=["version", "label"], name="findingdecision_unique"),
            models.CheckConstraint(
                condition=Q(confidence__isnull=True) | Q(confidence__gte=0.0, confidence__lte=1.0),
                name="findingdecision_confidence_range",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.label}: {self.decision}"


class ReportMetrics(models.Model):
    """How far the signed text moved from the AI draft; written once, at signing."""

    report = models.OneToOneField(Report, on_delete=models.CASCADE, related_name="metrics")
    char_distance = models.FloatField()  # normalised Levenshtein, 0 (same) .. 1
    word_distance = models.FloatField()  # the same over word tokens
    ai_labels = models.JSONField(default=list)  # labeller positives (incl. uncertain) of v0
    signed_labels = models.JSONField(default=list)  # ... of the signed text
    findings_added = models.JSONField(default=list)
    findings_removed = models.JSONField(default=list)
    accepted = models.PositiveIntegerField(default=0)
    edited = models.PositiveIntegerField(default=0)
    rejected = models.PositiveIntegerField(default=0)
    added = models.PositiveIntegerField(default=0)
    unreviewed = models.PositiveIntegerField(default=0)
    label_source = models.CharField(max_length=32)  # "labeller" or "decisions"
    computed_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name_plural = "report metrics"

    def __str__(self) -> str:
        return f"metrics of report {self.report_id}"


class AiDraft(models.Model):
    """What the model said about a study beyond the text of version 0: each finding with its
    evidence (confidence, box, heatmap), the QA verdict, triage and timings. Written once,
    with version 0, and never changed (trigger, migration 0003)."""

    version = models.OneToOneField(
        ReportVersion, on_delete=models.PROTECT, related_name="ai_detail"
    )
    backend = models.CharField(max_length=32)  # registry key, e.g. "reference"
    model_name = models.CharField(max_length=128)
    model_version = models.CharField(max_length=128)
    demonstration = models.BooleanField(default=True)  # "demonstration model, not for clinical use"
    processing_time_ms = models.FloatField()
    timings_ms = models.JSONField(default=dict)
    requires_radiologist_review = models.BooleanField(default=False)
    qa_flags = models.JSONField(default=list)  # [{"kind", "label", "detail", "blocking"}]
    # [{"finding", "label", "confidence", "severity", "laterality", "bounding_box",
    #   "is_critical", "heatmap", "context_contribution"}]; "heatmap" is a file name under
    # HEATMAP_DIR/<report id>/, served by the report's heatmap endpoint.
    findings = models.JSONField(default=list)
    sentences = models.JSONField(default=list)  # [{"text", "section", "label", "source"}]
    priority = models.FloatField(default=0.0)
    created_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return f"AI detail of {self.version}"


class Assignment(models.Model):
    """The radiologist a study is assigned to read (one at a time; reassigning replaces it).

    Kept apart from ``Report`` so a study can be assigned before its AI draft exists.
    """

    study = models.OneToOneField(Study, on_delete=models.CASCADE, related_name="assignment")
    assignee = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="assignments"
    )
    assigned_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="assignments_made",
    )
    assigned_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return f"{self.study_id} assigned to {self.assignee_id}"
