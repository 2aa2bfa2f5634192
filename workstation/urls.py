from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView
from rest_framework.authtoken.views import obtain_auth_token

from reports import ai_api, assignment_api
from reports import api as reports_api
from workstation import health, views
from workstation.audit import api as audit_api
from workstation.clinical import api as clinical_api
from workstation.clinical import views as clinical_views
from workstation.consult import urls as consult_urls
from workstation.dashboards import prometheus as dashboards_metrics
from workstation.dashboards import urls as dashboards_urls
from workstation.studies import api as studies_api

api_v1 = [
    path("auth/token", obtain_auth_token, name="api-token"),
    path("studies", studies_api.StudyListApi.as_view(), name="api-study-list"),
    path(
        "studies/<str:study_uid>/complete",
        studies_api.StudyCompleteApi.as_view(),
        name="api-study-complete",
    ),
    path("instances", studies_api.InstanceUploadApi.as_view(), name="api-instance-upload"),
    path(
        "instances/<str:sop_uid>/frame",
        studies_api.InstanceFrameApi.as_view(),
        name="api-instance-frame",
    ),
    path(
        "studies/<str:study_uid>/report", ai_api.StudyReportApi.as_view(), name="api-study-report"
    ),
    path(
        "reports/<int:report_id>/heatmaps/<str:name>",
        ai_api.ReportHeatmapApi.as_view(),
        name="api-report-heatmap",
    ),
    path(
        "studies/<str:study_uid>/report-record",
        reports_api.StudyReportRecordApi.as_view(),
        name="api-study-report-record",
    ),
    path("reports/<int:report_id>", reports_api.ReportDetailApi.as_view(), name="api-report"),
    path(
        "reports/<int:report_id>/qa-check",
        ai_api.ReportQaCheckApi.as_view(),
        name="api-report-qa-check",
    ),
    path(
        "studies/<str:study_uid>/assignment",
        assignment_api.StudyAssignmentApi.as_view(),
        name="api-study-assignment",
    ),
    path(
        "reports/<int:report_id>/versions",
        reports_api.ReportVersionCreateApi.as_view(),
        name="api-report-versions",
    ),
    path(
        "reports/<int:report_id>/claim",
        reports_api.ReportClaimApi.as_view(),
        name="api-report-claim",
    ),
    path(
        "reports/<int:report_id>/sign", reports_api.ReportSignApi.as_view(), name="api-report-sign"
    ),
    path(
        "reports/<int:report_id>/addenda",
        reports_api.ReportAddendumApi.as_view(),
        name="api-report-addenda",
    ),
    path(
        "reports/<int:report_id>/reject-draft",
        reports_api.ReportRejectDraftApi.as_view(),
        name="api-report-reject-draft",
    ),
    path(
        "reports/<int:report_id>/fhir", reports_api.ReportFhirApi.as_view(), name="api-report-fhir"
    ),
    path(
        "reports/<int:report_id>/fhir/bundle",
        reports_api.ReportFhirBundleApi.as_view(),
        name="api-report-fhir-bundle",
    ),
    path("audit", audit_api.AuditListApi.as_view(), name="api-audit"),
    path("fhir/", clinical_api.FhirIntakeApi.as_view(), name="api-fhir-intake"),
]

urlpatterns = [
    path("", views.home, name="home"),
    path("worklist/rows", views.worklist_rows, name="worklist-rows"),
    path("studies/<str:study_uid>/", views.study_viewer, name="study-viewer"),
    path(
        "studies/<str:study_uid>/clinical/",
        clinical_views.study_clinical,
        name="study-clinical",
    ),
    path("healthz", health.healthz, name="healthz"),
    path("accounts/login/", auth_views.LoginView.as_view(), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("admin/", admin.site.urls),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="api-schema"), name="api-docs"),
    path("api/v1/", include(api_v1)),
    path("api/v1/", include(consult_urls.api_urlpatterns)),
    path("api/v1/dashboards/", include(dashboards_urls.api_v1)),
    path("dashboards/", include(dashboards_urls.pages)),
    path("metrics", dashboards_metrics.metrics_view, name="metrics"),
    path("", include(consult_urls.urlpatterns)),
    path("dicomweb/", include("workstation.dicomweb.urls")),
]
