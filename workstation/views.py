"""Server-rendered pages: the worklist (and its rows as a fragment for live refresh), the viewer.

Pages carry no inline script: behaviour lives in ``static/js`` (so a strict
Content-Security-Policy can forbid inline scripts) and reads its parameters from ``data-``
attributes. Every DICOM or report text reaches the browser through Django's autoescaping.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, cast

from django import forms
from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.db.models import F
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.template import TemplateDoesNotExist
from django.template.loader import get_template
from django.views.decorators.http import require_GET

from reports.models import Assignment
from workstation.accounts.access import study_scope
from workstation.accounts.roles import Role, user_roles
from workstation.audit.models import AuditAction
from workstation.audit.services import audit_record
from workstation.studies import selectors
from workstation.studies.models import Instance, Study, StudyStatus
from workstation.worklist import (
    PAGE_SIZE,
    WorklistFlag,
    WorklistPage,
    assignee_choices,
    worklist_page,
)

# View positions the viewer opens first (the AI reads the frontal view).
_FRONTAL = ("PA", "AP", "")
_MAX_PRIORS = 10
_VQA_PANEL = "consult/vqa_panel.html"


class WorklistFilterForm(forms.Form):
    status = forms.ChoiceField(
        required=False,
        choices=[("", "Any status")] + [(s.value, s.value.replace("_", " ")) for s in StudyStatus],
    )
    modality = forms.RegexField(regex=r"^[A-Za-z]{2,16}$", required=False, max_length=16)
    date_from = forms.DateField(required=False)
    date_to = forms.DateField(required=False)
    q = forms.CharField(required=False, max_length=64, strip=True)
    flag = forms.ChoiceField(
        required=False,
        choices=[
            ("", "Any flag"),
            (WorklistFlag.CRITICAL.value, "AI critical"),
            (WorklistFlag.REVIEW.value, "QA review"),
            (WorklistFlag.ESCALATED.value, "Escalated"),
            (WorklistFlag.STAT.value, "STAT"),
        ],
    )
    mine = forms.BooleanField(required=False)
    offset = forms.IntegerField(required=False, min_value=0, max_value=1_000_000)


def _nav(request: HttpRequest) -> dict[str, Any]:
    """What every page's header needs: roles, the links they allow, the idle timeout."""
    roles = user_roles(request.user)
    links = []
    if request.user.has_perm("studies.view_study"):
        title = "Worklist" if Role.RADIOLOGIST in roles or Role.ADMIN in roles else "My studies"
        links.append(("home", title))
    if Role.ADMIN in roles:
        links.append(("admin:index", "Administration"))
        links.append(("api-docs", "API"))
    return {
        "roles": sorted(role.value for role in roles),
        "nav_links": links,
        "session_idle_seconds": settings.SESSION_COOKIE_AGE,
    }


def _worklist(request: HttpRequest) -> tuple[WorklistFilterForm, WorklistPage | None]:
    form = WorklistFilterForm(request.GET)
    if not request.user.has_perm("studies.view_study"):
        return form, None
    if not form.is_valid():
        return form, WorklistPage(rows=(), total=0, offset=0, limit=PAGE_SIZE)
    values = {k: v for k, v in form.cleaned_data.items() if v not in (None, "", False)}
    offset = values.pop("offset", 0)
    flag = values.pop("flag", "")
    mine = values.pop("mine", False)
    page = worklist_page(
        user=request.user,
        filters=cast(selectors.StudyFilters, values),
        flag=flag,
        mine=mine,
        offset=offset,
    )
    audit_record(
        action=AuditAction.VIEW,
        user=request.user,
        object_type="worklist",
        detail=" ".join(row.study.study_uid for row in page.rows)[:2000],
    )
    return form, page


def _filter_query(request: HttpRequest) -> str:
    """The request's filters without the offset, for the pager's links."""
    query = request.GET.copy()
    query.pop("offset", None)
    return query.urlencode()


def _worklist_context(request: HttpRequest) -> dict[str, Any]:
    form, page = _worklist(request)
    return {
        "form": form,
        "page": page,
        "filter_query": _filter_query(request),
        "can_report": request.user.has_perm("studies.report_study"),
        "escalation_minutes": settings.WORKLIST_ESCALATION_MINUTES,
    }


@login_required
@require_GET
def home(request: HttpRequest) -> HttpResponse:
    """The worklist: the studies the user may see, escalated and AI-critical first, live."""
    return render(request, "home.html", {**_nav(request), **_worklist_context(request)})


@login_required
@require_GET
def worklist_rows(request: HttpRequest) -> HttpResponse:
    """The worklist's rows and pager alone, for the page to swap in after a live event."""
    context = _worklist_context(request)
    if context["page"] is None:
        raise PermissionDenied("your role has no worklist")
    return render(request, "worklist/rows.html", context)


def _images(study: Study) -> list[Instance]:
    """The study's images, frontal views first (the AI reads the frontal view)."""
    instances = list(
        Instance.objects.filter(series__study=study, rows__isnull=False)  # not SR/GSPS
        .select_related("series")
        .order_by("series__series_number", "instance_number", "pk")
    )
    return sorted(instances, key=lambda i: i.view_position.strip().upper() not in _FRONTAL)


@dataclass(frozen=True)
class Prior:
    study: Study
    image: Instance  # the one shown beside the current study (frontal first)


def _priors(request: HttpRequest, study: Study) -> list[Prior]:
    """Other studies of the same patient with images, newest first (at most ``_MAX_PRIORS``)."""
    others = (
        study_scope(user=request.user, queryset=Study.objects.all())
        .filter(patient_id=study.patient_id, series__instances__isnull=False)
        .exclude(pk=study.pk)
        .distinct()
        .order_by(F("study_date").desc(nulls_last=True), "-received_at")[:_MAX_PRIORS]
    )
    priors = []
    for other in others:
        images = _images(other)
        if images:
            priors.append(Prior(study=other, image=images[0]))
    return priors


def _vqa_panel() -> str | None:
    """The VQA panel's template where the consult app provides one."""
    try:
        get_template(_VQA_PANEL)
    except TemplateDoesNotExist:
        return None
    return _VQA_PANEL


@login_required
@require_GET
def study_viewer(request: HttpRequest, study_uid: str) -> HttpResponse:
    """The reading page: image viewer with AI overlays beside the report editor."""
    if not request.user.has_perm("studies.view_instance"):
        raise PermissionDenied("your role does not allow reading images")
    study = (
        study_scope(user=request.user, queryset=Study.objects.all())
        .select_related("patient", "clinical_context")
        .filter(study_uid=study_uid)
        .first()
    )
    if study is None:
        raise Http404("no such study")
    audit_record(
        action=AuditAction.VIEW,
        user=request.user,
        object_type="study_page",
        object_id=study.study_uid,
        study_uid=study.study_uid,
    )
    can_report = request.user.has_perm("studies.report_study")
    assignment = Assignment.objects.filter(study=study).select_related("assignee").first()
    return render(
        request,
        "viewer.html",
        {
            **_nav(request),
            "study": study,
            "images": _images(study),
            "priors": _priors(request, study),
            "can_report": can_report,
            "assignee": assignment.assignee.get_username() if assignment else "",
            "assignee_choices": assignee_choices() if can_report else [],
            "vqa_panel": _vqa_panel(),
        },
    )
