"""Server-rendered pages: the worklist (and its rows as a fragment for live refresh), the viewer.

Pages carry no inline script: behaviour lives in ``static/js`` (so a strict
Content-Security-Policy can forbid inline scripts) and reads its parameters from ``data-``
attributes. Every DICOM or report text reaches the browser through Django's autoescaping.
"""

from __future__ import annotations

from typing import Any, cast

from django import forms
from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from workstation.accounts.access import study_scope
from workstation.accounts.roles import Role, user_roles
from workstation.audit.models import AuditAction
from workstation.audit.services import audit_record
from workstation.studies import selectors
from workstation.studies.models import Instance, Study, StudyStatus
from workstation.worklist import PAGE_SIZE, WorklistPage, worklist_page

# View positions the viewer opens first (the AI reads the frontal view).
_FRONTAL = ("PA", "AP", "")


class WorklistFilterForm(forms.Form):
    status = forms.ChoiceField(
        required=False,
        choices=[("", "Any status")] + [(s.value, s.value.replace("_", " ")) for s in StudyStatus],
    )
    modality = forms.RegexField(regex=r"^[A-Za-z]{2,16}$", required=False, max_length=16)
    date_from = forms.DateField(required=False)
    date_to = forms.DateField(required=False)
    q = forms.CharField(required=False, max_length=64, strip=True)
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
    values = {k: v for k, v in form.cleaned_data.items() if v not in (None, "")}
    offset = values.pop("offset", 0)
    page = worklist_page(
        user=request.user, filters=cast(selectors.StudyFilters, values), offset=offset
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


@login_required
@require_GET
def home(request: HttpRequest) -> HttpResponse:
    """The worklist: the studies the user may see, AI priority first, with live updates."""
    form, page = _worklist(request)
    return render(
        request,
        "home.html",
        {
            **_nav(request),
            "form": form,
            "page": page,
            "filter_query": _filter_query(request),
            "can_report": request.user.has_perm("studies.report_study"),
        },
    )


@login_required
@require_GET
def worklist_rows(request: HttpRequest) -> HttpResponse:
    """The worklist's rows and pager alone, for the page to swap in after a live event."""
    form, page = _worklist(request)
    if page is None:
        raise PermissionDenied("your role has no worklist")
    return render(
        request,
        "worklist/rows.html",
        {
            "form": form,
            "page": page,
            "filter_query": _filter_query(request),
            "can_report": request.user.has_perm("studies.report_study"),
        },
    )


def _images(study: Study) -> list[Instance]:
    instances = list(
        Instance.objects.filter(series__study=study)
        .select_related("series")
        .order_by("series__series_number", "instance_number", "pk")
    )
    return sorted(instances, key=lambda i: i.view_position.strip().upper() not in _FRONTAL)


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
    return render(
        request,
        "viewer.html",
        {
            **_nav(request),
            "study": study,
            "images": _images(study),
            "can_report": request.user.has_perm("studies.report_study"),
        },
    )
