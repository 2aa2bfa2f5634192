"""Patients, studies, series and instances as received over DICOM, and drafting jobs."""

from __future__ import annotations

from enum import StrEnum

from django.conf import settings
from django.db import models
from django.db.models import Q


class StudyStatus(StrEnum):
    RECEIVING = "receiving"  # instances still arriving (settle window open)
    WAITING_FOR_AI = "waiting_for_ai"  # complete; a drafting job is queued or running
    NOT_DRAFTED = "not_drafted"  # complete, but nothing to draft (e.g. CT/MR)
    DRAFTED = "drafted"
    DRAFT_FAILED = "draft_failed"
    SIGNED = "signed"


class DraftJobState(StrEnum):
    PENDING = "pending"  # row committed, task not yet handed to the broker
    QUEUED = "queued"  # handed to the broker
    RUNNING = "running"
    READY_FOR_DRAFTING = "ready_for_drafting"  # no drafting backend is configured yet
    DONE = "done"
    FAILED = "failed"


class Patient(models.Model):
    patient_id = models.CharField(max_length=64)
    issuer = models.CharField(max_length=64, blank=True, default="")
    name = models.CharField(max_length=324, blank=True, default="")
    birth_date = models.DateField(null=True, blank=True)
    sex = models.CharField(max_length=16, blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["patient_id", "issuer"], name="patient_id_issuer_unique"
            )
        ]

    def __str__(self) -> str:
        return f"{self.patient_id}"


class Study(models.Model):
    study_uid = models.CharField(max_length=64, unique=True)
    patient = models.ForeignKey(Patient, on_delete=models.PROTECT, related_name="studies")
    accession_number = models.CharField(max_length=16, blank=True, default="")
    study_date = models.DateField(null=True, blank=True)
    study_time = models.TimeField(null=True, blank=True)
    description = models.CharField(max_length=64, blank=True, default="")
    modalities = models.CharField(max_length=64, blank=True, default="")
    referring_physician = models.CharField(max_length=324, blank=True, default="")
    patient_age_years = models.PositiveSmallIntegerField(null=True, blank=True)
    status = models.CharField(
        max_length=32,
        choices=[(s.value, s.value) for s in StudyStatus],
        default=StudyStatus.RECEIVING,
    )
    priority = models.FloatField(default=0.0)
    is_stat = models.BooleanField(default=False)
    received_at = models.DateTimeField(auto_now_add=True)
    last_instance_at = models.DateTimeField()
    completed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name_plural = "studies"
        permissions = [
            ("report_study", "Can read images and report studies"),
            ("view_dashboards", "Can view department dashboards"),
        ]
        indexes = [
            # The worklist: highest priority first, then oldest.
            models.Index(fields=["status", "-priority", "received_at"], name="study_worklist_idx"),
            models.Index(fields=["-received_at"], name="study_received_idx"),
            models.Index(fields=["study_date"], name="study_date_idx"),
            models.Index(fields=["accession_number"], name="study_accession_idx"),
            models.Index(
                fields=["last_instance_at"],
                name="study_settling_idx",
                condition=Q(completed_at__isnull=True),
            ),
        ]

    def __str__(self) -> str:
        return self.study_uid


class Series(models.Model):
    series_uid = models.CharField(max_length=64, unique=True)
    study = models.ForeignKey(Study, on_delete=models.CASCADE, related_name="series")
    modality = models.CharField(max_length=16, blank=True, default="")
    series_number = models.IntegerField(null=True, blank=True)
    description = models.CharField(max_length=64, blank=True, default="")
    body_part = models.CharField(max_length=16, blank=True, default="")

    class Meta:
        verbose_name_plural = "series"

    def __str__(self) -> str:
        return self.series_uid


class Instance(models.Model):
    sop_uid = models.CharField(max_length=64, unique=True)
    series = models.ForeignKey(Series, on_delete=models.CASCADE, related_name="instances")
    sop_class_uid = models.CharField(max_length=64)
    transfer_syntax_uid = models.CharField(max_length=64)
    instance_number = models.IntegerField(null=True, blank=True)
    rows = models.PositiveIntegerField(null=True, blank=True)
    columns = models.PositiveIntegerField(null=True, blank=True)
    bits_stored = models.PositiveSmallIntegerField(null=True, blank=True)
    photometric_interpretation = models.CharField(max_length=16, blank=True, default="")
    view_position = models.CharField(max_length=16, blank=True, default="")
    image_laterality = models.CharField(max_length=1, blank=True, default="")
    burned_in_annotation = models.CharField(max_length=3, blank=True, default="")
    # SHA-256 of the dataset exactly as received (the bytes after the File Meta Information,
    # which the receiver writes itself); it names the stored file.
    sha256 = models.CharField(max_length=64)
    storage_path = models.CharField(max_length=255)  # relative to DICOM_STORAGE_DIR
    size_bytes = models.BigIntegerField()
    lossy = models.BooleanField(default=False)
    calling_ae_title = models.CharField(max_length=16, blank=True, default="")
    received_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        indexes = [models.Index(fields=["sha256"], name="instance_sha_idx")]

    def __str__(self) -> str:
        return self.sop_uid


class ClinicalContext(models.Model):
    study = models.OneToOneField(Study, on_delete=models.CASCADE, related_name="clinical_context")
    age_years = models.PositiveSmallIntegerField(null=True, blank=True)
    sex = models.CharField(max_length=16, blank=True, default="")
    indication = models.TextField(blank=True, default="")
    history = models.TextField(blank=True, default="")
    prior_studies = models.ManyToManyField(Study, blank=True, related_name="later_studies")
    source = models.CharField(max_length=32, default="dicom")
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"context of {self.study_id}"


class DraftJob(models.Model):
    """One drafting job per study and model version: the unique constraint is the guarantee."""

    study = models.ForeignKey(Study, on_delete=models.CASCADE, related_name="draft_jobs")
    model_version = models.CharField(max_length=128)
    state = models.CharField(
        max_length=32,
        choices=[(s.value, s.value) for s in DraftJobState],
        default=DraftJobState.PENDING,
    )
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL
    )
    reason = models.CharField(max_length=32, default="settled")  # settled | explicit
    # What the requester asked for: {"report_template": str, "confidence_threshold": float}.
    options = models.JSONField(default=dict, blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    error = models.TextField(blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["study", "model_version"], name="draftjob_study_model_unique"
            )
        ]
        indexes = [models.Index(fields=["state", "created_at"], name="draftjob_state_idx")]

    def __str__(self) -> str:
        return f"draft job {self.pk} ({self.state})"


class StudyAccessReason(StrEnum):
    ORDERED = "ordered"  # the clinician who requested the examination
    ASSIGNED = "assigned"  # given access by the department (consultant, covering colleague)


class StudyAccess(models.Model):
    """A clinician's right to read one study's signed report (radiologists need none)."""

    study = models.ForeignKey(Study, on_delete=models.CASCADE, related_name="access_grants")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="study_access"
    )
    reason = models.CharField(
        max_length=16,
        choices=[(r.value, r.value) for r in StudyAccessReason],
        default=StudyAccessReason.ORDERED,
    )
    granted_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name_plural = "study access"
        constraints = [
            models.UniqueConstraint(fields=["study", "user"], name="studyaccess_study_user_unique")
        ]

    def __str__(self) -> str:
        return f"{self.user_id} may read {self.study_id} ({self.reason})"
