"""One row per model version. Drafts name the version that made them by (name, version)
strings (``reports.AiDraft.model_name`` / ``model_version``); see ``selectors``."""

from __future__ import annotations

from enum import StrEnum

from django.conf import settings
from django.db import models
from django.utils import timezone


class ModelStatus(StrEnum):
    REGISTERED = "registered"
    PROMOTED = "promoted"  # the version that serves its name (at most one per name)
    RETIRED = "retired"  # was promoted, superseded by a later promotion


class ModelVersion(models.Model):
    name = models.CharField(max_length=128)
    version = models.CharField(max_length=128)
    backend = models.CharField(max_length=16)  # registry.BACKENDS key the directory is for
    path = models.CharField(max_length=1024)
    sha256 = models.CharField(max_length=64)  # of the weights; see weights.weights_checksum
    card = models.JSONField(default=dict, blank=True)  # model_card.json as registered
    metrics = models.JSONField(default=dict, blank=True)  # evaluation "summary"; {} = none
    evaluation_path = models.CharField(max_length=1024, blank=True, default="")
    created = models.DateTimeField(default=timezone.now)
    status = models.CharField(
        max_length=16,
        choices=[(s.value, s.value) for s in ModelStatus],
        default=ModelStatus.REGISTERED,
    )
    promoted_at = models.DateTimeField(null=True, blank=True)
    promoted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    promotion_reason = models.TextField(blank=True, default="")
    forced = models.BooleanField(default=False)  # promoted despite missing the thresholds

    class Meta:
        ordering = ["name", "-created"]
        constraints = [
            models.UniqueConstraint(
                fields=["name", "version"], name="modelversion_name_version_unique"
            ),
            models.UniqueConstraint(
                fields=["name"],
                condition=models.Q(status=ModelStatus.PROMOTED),
                name="modelversion_one_promoted_per_name",
            ),
        ]
        permissions = [("promote_modelversion", "Can promote a model version to serve drafts")]

    def __str__(self) -> str:
        return f"{self.name}:{self.version} ({self.status})"

    @property
    def key(self) -> str:
        return f"{self.name}:{self.version}"
