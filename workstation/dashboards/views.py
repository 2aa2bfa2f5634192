"""Dashboard pages: manager, model (with alerts, queue, workers, drift) and A/B comparison,
and their SVG charts. Figures come from :mod:`.services`; pages carry no inline script."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from workstation.accounts.roles import Role, user_roles
from workstation.dashboards.ab import (
    AbError,
    ab_comparison,
    ab_experiment_start,
    ab_experiment_stop,
    ab_promote,
)
from workstation.dashboards.access import dashboards_allowed
from workstation.dashboards.charts import CHARTS
from workstation.dashboards.forms import DashboardFilterForm, filter_errors
from workstation.dashboards.metrics.model import FINDING_LABELS
from workstation.dashboards.models import AbExperiment
from workstation.dashboards.services import manager_dashboard, model_dashboard
from workstation.dashboards.shadow import (
    ShadowError,
    shadow_agreement,
    shadow_enabled,
    shadow_run_current,
    shadow_start,
    shadow_stop,
)
from workstation.views import _nav

MANAGER_LAYOUT = (
    ("turnaround", "turnaround"),
    ("quality", None),
    ("edit_distance_histogram", "edit-distance"),
    ("urgent", None),
    ("awaiting_signature", None),
    ("radiologist_volume", None),
)
MODEL_LAYOUT = (
    ("latency", "latency"),
    ("hallucination", None),
    ("critical_sensitivity", None),
    ("detection_rates", "detection"),
    ("detection_daily", None),
)


def _require(request: HttpRequest) -> None:
    if not dashboards_allowed(request.user):
        raise PermissionDenied("the dashboards are for managers and administrators")


def _page(
    request: HttpRequest, template: str, context: dict[str, Any], status: int = 200
) -> HttpResponse:
    return render(request, template, {**_nav(request), **context}, status=status)


def _filtered(request: HttpRequest, template: str, title: str) -> tuple[Any, HttpResponse | None]:
    form = DashboardFilterForm(request.GET)
    if form.is_valid():
        return form, None
    context = {"form": form, "error": filter_errors(form), "title": title}
    return form, _page(request, template, context, status=400)


@login_required
@require_GET
def manager_page(request: HttpRequest) -> HttpResponse:
    _require(request)
    form, refused = _filtered(request, "dashboards/manager.html", "Department")
    if refused is not None:
        return refused
    tables = manager_dashboard(form.metrics_filter())
    return _page(
        request,
        "dashboards/manager.html",
        {
            "form": form,
            "query": request.GET.urlencode(),
            "sections": [(tables[name], chart) for name, chart in MANAGER_LAYOUT],
            "dashboard": "manager",
        },
    )


@login_required
@require_GET
def model_page(request: HttpRequest) -> HttpResponse:
    _require(request)
    form, refused = _filtered(request, "dashboards/model.html", "Model")
    if refused is not None:
        return refused
    result = model_dashboard(form.metrics_filter())
    tables = result["tables"]
    return _page(
        request,
        "dashboards/model.html",
        {
            "form": form,
            "query": request.GET.urlencode(),
            "alerts": result["alerts"],
            "live": result["live"],
            "drift": result["drift"],
            "overview": tables["overview"].as_dicts()[0],
            "sections": [(tables[name], chart) for name, chart in MODEL_LAYOUT],
            "dashboard": "model",
        },
    )


@login_required
@require_GET
def chart_svg(request: HttpRequest, name: str) -> HttpResponse:
    _require(request)
    if name not in CHARTS:
        raise Http404("no such chart")
    dashboard, table, draw = CHARTS[name]
    form = DashboardFilterForm(request.GET)
    if not form.is_valid():
        return HttpResponse(filter_errors(form), status=400, content_type="text/plain")
    f = form.metrics_filter()
    tables = manager_dashboard(f) if dashboard == "manager" else model_dashboard(f)["tables"]
    response = HttpResponse(draw(tables[table]), content_type="image/svg+xml")
    response["Cache-Control"] = "private, max-age=30"
    return response


@login_required
@require_http_methods(["GET", "POST"])
def ab_page(request: HttpRequest) -> HttpResponse:
    _require(request)
    if request.method == "POST":
        return _ab_start(request)
    experiments = list(AbExperiment.objects.order_by("-started_at")[:20])
    chosen = request.GET.get("experiment")
    experiment = (
        next((e for e in experiments if str(e.pk) == chosen), None) if chosen else None
    ) or (experiments[0] if experiments else None)
    comparison = (
        ab_comparison(experiment=experiment, critical_labels=list(settings.CRITICAL_LABELS))
        if experiment is not None
        else None
    )
    return _page(
        request,
        "dashboards/ab.html",
        {
            "experiments": experiments,
            "experiment": experiment,
            "comparison": comparison,
            "shadow": shadow_agreement(
                labels=FINDING_LABELS, critical=list(settings.CRITICAL_LABELS)
            ),
            "shadow_on": shadow_enabled(),
            "shadow_run": shadow_run_current(),
            "shadow_model_dir": settings.SHADOW_MODEL_DIR,
            "is_admin": Role.ADMIN in user_roles(request.user),
            "default_fraction": settings.AB_DEFAULT_FRACTION,
            "dashboard": "ab",
        },
    )


def _ab_start(request: HttpRequest) -> HttpResponse:
    try:
        fraction = float(request.POST.get("fraction") or settings.AB_DEFAULT_FRACTION)
        ab_experiment_start(
            user=request.user,  # type: ignore[arg-type]
            name=request.POST.get("name", "").strip()[:100],
            control_version=request.POST.get("control_version", "").strip()[:128],
            candidate_version=request.POST.get("candidate_version", "").strip()[:128],
            fraction=fraction,
        )
    except ValueError:
        messages.error(request, "the candidate's share must be a number")
    except AbError as exc:
        messages.error(request, str(exc))
    return redirect("dashboards-ab")


@login_required
@require_POST
def ab_action(request: HttpRequest, experiment_id: int, action: str) -> HttpResponse:
    _require(request)
    experiment = get_object_or_404(AbExperiment, pk=experiment_id)
    try:
        if action == "promote":
            ab_promote(
                experiment=experiment,
                user=request.user,  # type: ignore[arg-type]
                critical_labels=list(settings.CRITICAL_LABELS),
            )
            messages.success(request, f"{experiment.candidate_version} promoted (audited)")
        elif action == "stop":
            ab_experiment_stop(experiment=experiment, user=request.user)  # type: ignore[arg-type]
            messages.success(request, "experiment stopped")
        else:
            raise Http404("no such action")
    except AbError as exc:
        messages.error(request, str(exc))
    return redirect(f"/dashboards/ab/?experiment={experiment.pk}")


@login_required
@require_POST
def shadow_action(request: HttpRequest, action: str) -> HttpResponse:
    """Start (``model_version``: a registered ``name:version``) or stop shadow mode."""
    _require(request)
    try:
        if action == "start":
            version = request.POST.get("model_version", "").strip()[:128]
            shadow_start(user=request.user, model_version=version)  # type: ignore[arg-type]
            messages.success(request, f"{version} now drafts every new study in the shadow")
        elif action == "stop":
            run = shadow_stop(user=request.user)  # type: ignore[arg-type]
            messages.success(request, f"shadow mode stopped for {run.model_version}")
        else:
            raise Http404("no such action")
    except ShadowError as exc:
        messages.error(request, str(exc))
    return redirect("dashboards-ab")
