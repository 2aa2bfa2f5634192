"""The workstation page for a study's clinical context: what is linked to the study (with
source and time, and what is missing), and a form to add a value typed by hand."""

from __future__ import annotations

from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render

from workstation.accounts.access import study_scope
from workstation.audit.models import AuditAction
from workstation.audit.services import audit_record
from workstation.clinical.forms import ClinicalValueForm
from workstation.clinical.intake import PatientRef, ValueIn, aware
from workstation.clinical.models import ValueSource
from workstation.clinical.selectors import study_context_get
from workstation.clinical.services import (
    clinical_values_from_dicom,
    clinical_values_record,
    study_datetime,
)
from workstation.studies.models import Study


def study_clinical(request: HttpRequest, study_uid: str) -> HttpResponse:
    if not request.user.has_perm("studies.report_study"):
        raise PermissionDenied("your role does not allow entering clinical data")
    study = (
        study_scope(user=request.user, queryset=Study.objects.all())
        .select_related("patient")
        .filter(study_uid=study_uid)
        .first()
    )
    if study is None:
        raise Http404("no such study")
    form = ClinicalValueForm(request.POST or None, initial={"observed_at": study_datetime(study)})
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        patient = study.patient
        value = ValueIn(
            patient=PatientRef(patient.patient_id, patient.issuer),
            kind=data["kind"],
            code=data["code"],
            display=data["display"],
            observed_at=aware(data["observed_at"]),
            value_number=data["value_number"],
            value_text=data["value_text"],
            unit=data["unit"],
            reference_low=data.get("reference_low"),
            reference_high=data.get("reference_high"),
            abnormal_flag=data.get("abnormal_flag", ""),
            accession_number=study.accession_number,
        )
        clinical_values_record(values=[value], source=ValueSource.MANUAL, entered_by=request.user)
        audit_record(
            action=AuditAction.EDIT,
            user=request.user,
            object_type="clinical_values",
            object_id=patient.patient_id,
            study_uid=study.study_uid,
            detail=f"manual {data['code']}",
        )
        return redirect("study-clinical", study_uid=study.study_uid)
    # Header fields are read on first view (idempotent) so the page shows them before drafting.
    clinical_values_from_dicom(study=study)
    context = study_context_get(study=study)
    audit_record(
        action=AuditAction.VIEW,
        user=request.user,
        object_type="clinical_context",
        object_id=study.study_uid,
        study_uid=study.study_uid,
    )
    return render(
        request,
        "clinical/study_context.html",
        {"study": study, "context": context, "form": form},
        status=400 if request.method == "POST" else 200,
    )
