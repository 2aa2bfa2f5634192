"""Server-rendered pages for referring clinicians and for critical-result oversight.

- ``/clinician/``: the signed reports of the clinician's patients, unacknowledged critical
  results first (each with an Acknowledge button).
- ``/clinician/studies/<uid>/``: the image (the same 16-bit canvas viewer as the reading room)
  with the overlays of the findings the signed report stands behind, the signed text and
  addenda, and the question panel.
- ``/critical-results/``: every unacknowledged critical result with its age (managers,
  radiologists, admins).

No inline script: data reaches ``static/js`` through ``data-`` attributes and ``json_script``.
"""

from __future__ import annotations

import contextlib
from typing import Any

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_GET, require_POST

from reports import selectors as report_selectors
from workstation.accounts.roles import Role, user_roles
from workstation.audit.models import AuditAction
from workstation.audit.services import audit_record
from workstation.consult import selectors, services
from workstation.consult.api import ACKNOWLEDGING_ROLES, CONSULT_ROLES, OVERSIGHT_ROLES
from workstation.studies.models import Instance, Study

_FRONTAL = ("PA", "AP", "")


def _page(request: HttpRequest) -> dict[str, Any]:
    """What base.html's header needs: roles, links, the idle timeout."""
    roles = user_roles(request.user)
    links = []
    if request.user.has_perm("studies.view_study"):
        title = "Worklist" if Role.RADIOLOGIST in roles or Role.ADMIN in roles else "My studies"
        links.append(("home", title))
    return {
        "roles": sorted(role.value for role in roles),
        "nav_links": links,
        "session_idle_seconds": settings.SESSION_COOKIE_AGE,
    }


def _require_clinician(request: HttpRequest) -> None:
    if Role.CLINICIAN not in user_roles(request.user):
        raise PermissionDenied("this page is for referring clinicians")


@login_required
@require_GET
def clinician_home(request: HttpRequest) -> HttpResponse:
    """Signed reports of the clinician's patients; unacknowledged critical results on top."""
    _require_clinician(request)
    reports = list(selectors.signed_reports_for_clinician(user=request.user)[:100])
    critical = list(selectors.critical_results_open(recipient=request.user))
    audit_record(
        action=AuditAction.VIEW,
        user=request.user,
        object_type="clinician_reports",
        detail=" ".join(r.study.study_uid for r in reports)[:2000],
    )
    flagged = {r.report_id for r in critical}
    now = timezone.now()
    return render(
        request,
        "consult/clinician_home.html",
        {
            **_page(request),
            "reports": reports,
            "critical": [
                (r, selectors.age_text(selectors.critical_result_age_seconds(r, now)))
                for r in critical
            ],
            "flagged": flagged,
        },
    )


def _images(study: Study) -> list[Instance]:
    instances = list(
        Instance.objects.filter(series__study=study)
        .select_related("series")
        .order_by("series__series_number", "instance_number", "pk")
    )
    return sorted(instances, key=lambda i: i.view_position.strip().upper() not in _FRONTAL)


def _overlay(record: Any) -> dict[str, Any]:
    return {
        "label": record.label.value,
        "confidence": record.confidence,
        "bounding_box": list(record.box) if record.box else None,
        "is_critical": record.is_critical,
        "heatmap_url": record.heatmap_url,
    }


@login_required
@require_GET
def clinician_study(request: HttpRequest, study_uid: str) -> HttpResponse:
    """A signed study for its referring clinician: image, signed overlays, report, questions."""
    if not user_roles(request.user) & CONSULT_ROLES:
        raise PermissionDenied("your role does not allow reading reports")
    study = selectors.study_for_consult(user=request.user, study_uid=study_uid)
    if study is None or not hasattr(study, "report") or not study.report.is_signed:
        raise Http404("no signed report for this study")
    report = report_selectors.report_get(report_id=study.report.pk)
    detail = report_selectors.report_detail(report=report, full_history=False)
    facts = selectors.study_facts(study)
    mine = selectors.critical_results_open(recipient=request.user)
    critical = list(mine.filter(study_id=study.pk))
    audit_record(
        action=AuditAction.VIEW,
        user=request.user,
        object_type="report",
        object_id=str(report.pk),
        study_uid=study.study_uid,
        report_id=report.pk,
        detail="clinician page",
    )
    return render(
        request,
        "consult/clinician_study.html",
        {
            **_page(request),
            "study": study,
            "report": report,
            "signed": detail.current,
            "addenda": detail.addenda,
            "images": _images(study),
            "overlays": [_overlay(r) for r in selectors.confirmed_findings(facts)],
            "demonstration": facts.demonstration,
            "critical": critical,
        },
    )


@login_required
@require_POST
def critical_result_acknowledge(request: HttpRequest, result_id: int) -> HttpResponse:
    """The Acknowledge button: records who and when (audited), then back to the page."""
    if not user_roles(request.user) & ACKNOWLEDGING_ROLES:
        raise PermissionDenied("your role does not acknowledge critical results")
    result = selectors.critical_result_for_acknowledgement(user=request.user, result_id=result_id)
    if result is None:
        raise Http404("no such critical result")
    # A second click (or a second tab): the first acknowledgement stands.
    with contextlib.suppress(services.AlreadyAcknowledged):
        services.critical_result_acknowledge(result=result, user=request.user)  # type: ignore[arg-type]
    target = request.POST.get("next", "")
    if not url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()}):
        home = (
            "clinician-home" if Role.CLINICIAN in user_roles(request.user) else "critical-results"
        )
        target = reverse(home)
    return HttpResponseRedirect(target)


@login_required
@require_GET
def critical_results_page(request: HttpRequest) -> HttpResponse:
    """Unacknowledged critical results, oldest first, with their age."""
    if not user_roles(request.user) & OVERSIGHT_ROLES:
        raise PermissionDenied("your role does not oversee critical results")
    now = timezone.now()
    results = []
    for result in selectors.critical_results_open():
        age = selectors.critical_result_age_seconds(result, now)
        results.append((result, age, selectors.age_text(age)))
    can_resolve = bool(user_roles(request.user) & {Role.RADIOLOGIST, Role.ADMIN})
    return render(
        request,
        "consult/critical_results.html",
        {**_page(request), "results": results, "can_resolve": can_resolve},
    )
