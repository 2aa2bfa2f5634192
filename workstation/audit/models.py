"""One row per auditable event. Rows are append-only: a trigger refuses UPDATE and DELETE."""

from __future__ import annotations

from enum import StrEnum

from django.conf import settings
from django.db import models
from django.utils import timezone


class AuditAction(StrEnum):
    VIEW = "view"  # PHI shown: study list, image frame, report
    EDIT = "edit"  # a new report version
    CLAIM = "claim"
    RELEASE = "release"
    SIGN = "sign"
    ADDENDUM = "addendum"
    REJECT_DRAFT = "reject_draft"
    EXPORT = "export"  # FHIR, retraining data
    LOGIN = "login"
    LOGIN_FAILED = "login_failed"
    LOGOUT = "logout"
    DENIED = "denied"  # a 403 (or an out-of-scope object answered 404)
    AUDIT_READ = "audit_read"


class AuditOutcome(StrEnum):
    SUCCESS = "success"
    DENIED = "denied"
    FAILURE = "failure"


class AuditEvent(models.Model):
    # No database constraint and no cascade: SET_NULL would be an UPDATE, which the trigger
    # refuses. A deleted user's rows stay as written, named by the username snapshot.
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        related_name="+",
    )
    username = models.CharField(max_length=150, blank=True, default="")  # snapshot
    at = models.DateTimeField(default=timezone.now, db_index=True)
    action = models.CharField(max_length=32, choices=[(a.value, a.value) for a in AuditAction])
    outcome = models.CharField(
        max_length=16,
        choices=[(o.value, o.value) for o in AuditOutcome],
        default=AuditOutcome.SUCCESS,
    )
    object_type = models.CharField(max_length=32, blank=True, default="")
    object_id = models.CharField(max_length=128, blank=True, default="")
    study_uid = models.CharField(max_length=64, blank=True, default="", db_index=True)
    report_id = models.BigIntegerField(null=True, blank=True)
    source_ip = models.GenericIPAddressField(null=True, blank=True)
    path = models.CharField(max_length=255, blank=True, default="")
    detail = models.TextField(blank=True, default="")

    class Meta:
        ordering = ["-at", "-id"]
        indexes = [
            models.Index(fields=["action", "-at"], name="audit_action_idx"),
            models.Index(fields=["username", "-at"], name="audit_user_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.at:%Y-%m-%dT%H:%M:%SZ} {self.username or '-'} {self.action} {self.outcome}"
