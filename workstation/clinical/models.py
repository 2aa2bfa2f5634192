"""Clinical values as received (labs, vitals, conditions, requests, header fields), and the
context each AI draft was made with."""

from __future__ import annotations

from enum import StrEnum

from django.conf import settings
from django.db import models
from django.db.models import Q

from workstation.studies.models import Patient, Study


class ValueKind(StrEnum):
    OBSERVATION = "observation"  # a lab or vital sign, smoking status, height, weight
    CONDITION = "condition"  # a known diagnosis (FHIR Condition, DG1, admitting diagnosis)
    REQUEST = "request"  # what the order says: indication, requested procedure, notes
    DEMOGRAPHIC = "demographic"  # age, sex


class ValueSource(StrEnum):
    DICOM = "dicom"
    FHIR = "fhir"
    HL7 = "hl7"
    MANUAL = "manual"


class ClinicalValue(models.Model):
    """One value about a patient, with where and when it came from.

    ``code`` is a key of ``workstation.clinical.codes.CATALOGUE`` (or "other"); a number is
    stored in the catalogue's UCUM ``unit``, converted at intake. ``source_ref`` identifies
    the message part it came from (FHIR resource id, HL7 control id and OBX set id, SOP
    Instance UID), so a re-sent message updates its values instead of doubling them.
    """

    patient = models.ForeignKey(Patient, on_delete=models.CASCADE, related_name="clinical_values")
    accession_number = models.CharField(max_length=16, blank=True, default="")
    kind = models.CharField(max_length=16, choices=[(k.value, k.value) for k in ValueKind])
    code = models.CharField(max_length=48)
    display = models.CharField(max_length=200)
    coding_system = models.CharField(max_length=128, blank=True, default="")
    coding_code = models.CharField(max_length=64, blank=True, default="")
    value_number = models.FloatField(null=True, blank=True)
    value_text = models.TextField(blank=True, default="")
    unit = models.CharField(max_length=32, blank=True, default="")  # UCUM
    reference_low = models.FloatField(null=True, blank=True)
    reference_high = models.FloatField(null=True, blank=True)
    abnormal_flag = models.CharField(max_length=4, blank=True, default="")  # HL7 table 0078
    observed_at = models.DateTimeField()
    source = models.CharField(max_length=16, choices=[(s.value, s.value) for s in ValueSource])
    source_ref = models.CharField(max_length=160, blank=True, default="")
    entered_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL
    )
    received_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        indexes = [models.Index(fields=["patient", "observed_at"], name="clinicalvalue_time_idx")]
        constraints = [
            models.UniqueConstraint(
                fields=["patient", "source", "source_ref", "code"],
                condition=~Q(source_ref=""),
                name="clinicalvalue_source_unique",
            ),
            models.CheckConstraint(
                condition=Q(value_number__isnull=False) | ~Q(value_text=""),
                name="clinicalvalue_has_value",
            ),
        ]

    def __str__(self) -> str:
        shown = self.value_text if self.value_number is None else f"{self.value_number:g}"
        return f"{self.code} {shown} {self.unit}".strip()


class DraftContext(models.Model):
    """What an AI draft knew and concluded beyond its findings: the context values used
    (with source and time) and the ones missing, the fusion model, the comparison with the
    prior study, and the decision-support differential and recommendations. Written once,
    with the draft's version 0."""

    version = models.OneToOneField(
        "reports.ReportVersion", on_delete=models.PROTECT, related_name="clinical_context"
    )
    study = models.ForeignKey(Study, on_delete=models.CASCADE, related_name="draft_contexts")
    window_hours = models.PositiveIntegerField()
    context = models.JSONField(default=dict)  # {"values": [...], "absent": [...], ...}
    fusion = models.JSONField(default=dict)  # {"model", "fitted_labels", "note"}
    comparison = models.JSONField(default=dict)  # {"prior_study_uid", "prior_date", ...}
    decision_support = models.JSONField(default=dict)  # {"notice", "differential", ...}
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"context of {self.version}"
