"""Routes of the dashboards: pages under ``/dashboards/``, the API under ``/api/v1/dashboards/``."""

from django.urls import path

from workstation.dashboards import api, views

pages = [
    path("manager/", views.manager_page, name="dashboards-manager"),
    path("model/", views.model_page, name="dashboards-model"),
    path("ab/", views.ab_page, name="dashboards-ab"),
    path("ab/shadow/<str:action>", views.shadow_action, name="dashboards-shadow-action"),
    path(
        "ab/<int:experiment_id>/<str:action>",
        views.ab_action,
        name="dashboards-ab-action",
    ),
    path("charts/<str:name>.svg", views.chart_svg, name="dashboards-chart"),
]

api_v1 = [
    path("manager", api.ManagerDashboardApi.as_view(), name="api-dashboard-manager"),
    path("model", api.ModelDashboardApi.as_view(), name="api-dashboard-model"),
    path(
        "<str:dashboard>/<str:table>.csv",
        api.DashboardCsvApi.as_view(),
        name="api-dashboard-csv",
    ),
    path("live", api.LiveStatusApi.as_view(), name="api-dashboard-live"),
    path("drift", api.DriftRunsApi.as_view(), name="api-dashboard-drift"),
    path("ab/<int:experiment_id>", api.AbComparisonApi.as_view(), name="api-dashboard-ab"),
]
