"""Pages (``urlpatterns``) and API routes (``api_urlpatterns``, under ``/api/v1/``)."""

from django.urls import path

from workstation.consult import api, views

api_urlpatterns = [
    path(
        "studies/<str:study_uid>/questions",
        api.StudyQuestionsApi.as_view(),
        name="api-study-questions",
    ),
    path("critical-results", api.CriticalResultListApi.as_view(), name="api-critical-results"),
    path(
        "critical-results/<int:result_id>/acknowledge",
        api.CriticalResultAcknowledgeApi.as_view(),
        name="api-critical-result-acknowledge",
    ),
]

urlpatterns = [
    path("clinician/", views.clinician_home, name="clinician-home"),
    path("clinician/studies/<str:study_uid>/", views.clinician_study, name="clinician-study"),
    path(
        "clinician/critical-results/<int:result_id>/acknowledge",
        views.critical_result_acknowledge,
        name="clinician-critical-acknowledge",
    ),
    path("critical-results/", views.critical_results_page, name="critical-results"),
]
