"""Questions asked about a study (with their answers and evidence) and critical results
waiting for the referring clinician's acknowledgement."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

from reports.models import Report
from workstation.studies.models import Study


class Question(models.Model):
    """One question about one study and the answer it got, exactly as shown (append-only)."""

    study = models.ForeignKey(Study, on_delete=models.PROTECT, related_name="questions")
    asked_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="questions"
    )
    asked_at = models.DateTimeField(default=timezone.now)
    text = models.TextField()  # at most inference.vqa.MAX_QUESTION_CHARS
    intent = models.CharField(max_length=32)  # inference.vqa.Intent
    answer = models.TextField()
    answerable = models.BooleanField()
    answered_by = models.CharField(max_length=16)  # "structured" or "vlm"
    model = models.CharField(max_length=160, blank=True, default="")
    # inference.vqa.Answer.as_dict(): evidence (label, confidence, box, heatmap, source,
    # prior), notice, reason, as the browser received it.
    payload = models.JSONField(default=dict)

    class Meta:
        ordering = ["-asked_at", "-id"]
        indexes = [models.Index(fields=["study", "-asked_at"], name="question_study_idx")]

    def __str__(self) -> str:
        return f"question {self.pk} on {self.study_id}"


class CriticalResult(models.Model):
    """A signed report with a critical finding, for one referring clinician to acknowledge.

    ``recipient`` is ``None`` when no clinician had access to the study at signing: the
    department must then phone someone, and managers see the row as unacknowledged.
    """

    report = models.ForeignKey(Report, on_delete=models.PROTECT, related_name="critical_results")
    study = models.ForeignKey(Study, on_delete=models.PROTECT, related_name="critical_results")
    recipient = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="critical_results",
    )
    labels = models.JSONField(default=list)  # CheXpert label names, critical ones only
    signed_version = models.PositiveIntegerField()
    created_at = models.DateTimeField(default=timezone.now)
    acknowledged_at = models.DateTimeField(null=True, blank=True)
    acknowledged_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )

    class Meta:
        ordering = ["created_at", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["report", "recipient"],
                condition=Q(recipient__isnull=False),
                name="criticalresult_one_per_recipient",
            ),
            models.UniqueConstraint(
                fields=["report"],
                condition=Q(recipient__isnull=True),
                name="criticalresult_one_unaddressed",
            ),
            models.CheckConstraint(
                condition=Q(acknowledged_at__isnull=True, acknowledged_by__isnull=True)
                | Q(acknowledged_at__isnull=False, acknowledged_by__isnull=False),
                name="criticalresult_acknowledged_together",
            ),
        ]
        indexes = [
            models.Index(
                fields=["created_at"],
                name="criticalresult_open_idx",
                condition=Q(acknowledged_at__isnull=True),
            )
        ]

    def __str__(self) -> str:
        return f"critical result {self.pk} of report {self.report_id}"

    @property
    def is_acknowledged(self) -> bool:
        return self.acknowledged_at is not None
