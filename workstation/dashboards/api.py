"""JSON API of the dashboards (``/api/v1/dashboards/...``) and CSV export of every table."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.http import HttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from workstation.audit.models import AuditAction
from workstation.audit.services import audit_record
from workstation.dashboards.ab import AbError, ab_comparison
from workstation.dashboards.access import CanViewDashboards
from workstation.dashboards.forms import DashboardFilterForm
from workstation.dashboards.live import live_status
from workstation.dashboards.metrics.tables import MetricsFilter, Table
from workstation.dashboards.models import AbExperiment, DriftRun
from workstation.dashboards.services import manager_dashboard, model_dashboard

DEMONSTRATION_NOTE = (
    "Model figures describe whatever model serves; the embedded demonstration model is not "
    "for clinical use and its figures are not clinical performance."
)


def _filter(request: Request) -> MetricsFilter:
    form = DashboardFilterForm(request.query_params)
    if not form.is_valid():
        raise ValidationError(form.errors.get_json_data())
    return form.metrics_filter()


def _filter_json(f: MetricsFilter) -> dict[str, Any]:
    return {
        "since": f.since.isoformat(),
        "until": f.until.isoformat(),
        "modality": f.modality,
        "model_version": f.model_version,
        "radiologist": f.radiologist,
        "group": f.group.value,
    }


def _drift_json(run: DriftRun | None) -> dict[str, Any] | None:
    if run is None:
        return None
    return {
        "id": run.pk,
        "model_version": run.model_version,
        "computed_at": run.computed_at.isoformat(),
        "window_start": run.window_start.isoformat(),
        "window_end": run.window_end.isoformat(),
        "recent_count": run.recent_count,
        "mmd2": run.mmd2,
        "mmd_threshold": run.mmd_threshold,
        "mmd_p_value": run.mmd_p_value,
        "false_alarm_rate": run.false_alarm_rate,
        "permutations": run.permutations,
        "embedding_alarm": run.embedding_alarm,
        "label_chi2": run.label_chi2,
        "label_dof": run.label_dof,
        "label_p_value": run.label_p_value,
        "label_alarm": run.label_alarm,
        "label_counts": run.label_counts,
        "note": run.note,
    }


class ManagerDashboardApi(APIView):
    permission_classes = [CanViewDashboards]

    @extend_schema(responses={200: OpenApiTypes.OBJECT})
    def get(self, request: Request) -> Response:
        f = _filter(request)
        tables = manager_dashboard(f)
        return Response(
            {"filter": _filter_json(f), "tables": {k: t.as_json() for k, t in tables.items()}}
        )


class ModelDashboardApi(APIView):
    permission_classes = [CanViewDashboards]

    @extend_schema(responses={200: OpenApiTypes.OBJECT})
    def get(self, request: Request) -> Response:
        f = _filter(request)
        result = model_dashboard(f)
        return Response(
            {
                "filter": _filter_json(f),
                "note": DEMONSTRATION_NOTE,
                "alerts": [a.as_json() for a in result["alerts"]],
                "live": result["live"].as_json(),
                "drift": _drift_json(result["drift"]),
                "tables": {k: t.as_json() for k, t in result["tables"].items()},
            }
        )


class DashboardCsvApi(APIView):
    """``/api/v1/dashboards/<manager|model>/<table>.csv``: one table, the page's filter."""

    permission_classes = [CanViewDashboards]

    @extend_schema(responses={(200, "text/csv"): OpenApiTypes.STR})
    def get(self, request: Request, dashboard: str, table: str) -> HttpResponse:
        f = _filter(request)
        if dashboard == "manager":
            tables: dict[str, Table] = manager_dashboard(f)
        elif dashboard == "model":
            tables = model_dashboard(f)["tables"]
        else:
            raise NotFound("no such dashboard")
        if table not in tables:
            raise NotFound(f"no table {table!r} on the {dashboard} dashboard")
        audit_record(
            action=AuditAction.EXPORT,
            user=request.user,
            object_type="dashboard_csv",
            object_id=f"{dashboard}/{table}",
            detail=request.query_params.urlencode()[:500],
        )
        response = HttpResponse(tables[table].as_csv(), content_type="text/csv; charset=utf-8")
        name = f"{dashboard}-{table}-{f.since:%Y%m%d}-{f.until:%Y%m%d}.csv"
        response["Content-Disposition"] = f'attachment; filename="{name}"'
        return response


class LiveStatusApi(APIView):
    """Queue depth and worker status only (the model page polls this)."""

    permission_classes = [CanViewDashboards]

    @extend_schema(responses={200: OpenApiTypes.OBJECT})
    def get(self, request: Request) -> Response:
        return Response(live_status().as_json())


class DriftRunsApi(APIView):
    permission_classes = [CanViewDashboards]

    @extend_schema(responses={200: OpenApiTypes.OBJECT})
    def get(self, request: Request) -> Response:
        runs = DriftRun.objects.order_by("-computed_at", "-pk")[:50]
        return Response({"runs": [_drift_json(run) for run in runs]})


class AbComparisonApi(APIView):
    permission_classes = [CanViewDashboards]

    @extend_schema(responses={200: OpenApiTypes.OBJECT})
    def get(self, request: Request, experiment_id: int) -> Response:
        experiment = AbExperiment.objects.filter(pk=experiment_id).first()
        if experiment is None:
            raise NotFound("no such experiment")
        try:
            comparison = ab_comparison(
                experiment=experiment, critical_labels=list(settings.CRITICAL_LABELS)
            )
        except AbError as exc:
            raise ValidationError(str(exc)) from exc
        return Response(
            {
                "experiment": {
                    "id": experiment.pk,
                    "name": experiment.name,
                    "status": experiment.status,
                    "control_version": experiment.control_version,
                    "candidate_version": experiment.candidate_version,
                    "fraction": experiment.fraction,
                },
                "arms": [
                    {
                        "arm": arm.arm.value,
                        "model_version": arm.model_version,
                        "assigned": arm.assigned,
                        "drafted_by_arm": arm.drafted_by_arm,
                        "drafts": arm.drafts,
                        "signed": arm.signed,
                        "mean_char_distance": arm.mean_char_distance,
                        "rejection_rate": arm.rejection_rate,
                        "critical_sensitivity": arm.critical_sensitivity,
                        "turnaround_p50_s": arm.turnaround_p50_s,
                    }
                    for arm in comparison.arms
                ],
                "tests": [
                    {
                        "metric": t.metric,
                        "test": t.result.test,
                        "statistic": t.result.statistic,
                        "p_value": t.result.p_value,
                        "bonferroni_p": t.adjusted_p,
                        "verdict": t.verdict,
                    }
                    for t in comparison.tests
                ],
                "promotable": comparison.promotable,
            }
        )
