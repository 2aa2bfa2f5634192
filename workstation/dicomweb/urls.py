"""DICOMweb resources (PS3.18): QIDO-RS, WADO-RS and STOW-RS under ``/dicomweb/``."""

from django.urls import path

from workstation.dicomweb import views

_STUDY = "studies/<str:study_uid>"
_SERIES = f"{_STUDY}/series/<str:series_uid>"
_INSTANCE = f"{_SERIES}/instances/<str:sop_uid>"

urlpatterns = [
    path("studies", views.StudiesRoot.as_view(), name="dicomweb-studies"),
    path("series", views.SeriesSearch.as_view(), name="dicomweb-all-series"),
    path("instances", views.InstanceSearch.as_view(), name="dicomweb-all-instances"),
    path(_STUDY, views.StudyResource.as_view(), name="dicomweb-study"),
    path(f"{_STUDY}/metadata", views.RetrieveMetadata.as_view(), name="dicomweb-study-metadata"),
    path(f"{_STUDY}/series", views.SeriesSearch.as_view(), name="dicomweb-study-series"),
    path(f"{_STUDY}/instances", views.InstanceSearch.as_view(), name="dicomweb-study-instances"),
    path(_SERIES, views.RetrieveInstances.as_view(), name="dicomweb-series"),
    path(f"{_SERIES}/metadata", views.RetrieveMetadata.as_view(), name="dicomweb-series-metadata"),
    path(
        f"{_SERIES}/instances",
        views.InstanceSearch.as_view(),
        name="dicomweb-series-instances",
    ),
    path(_INSTANCE, views.RetrieveInstances.as_view(), name="dicomweb-instance"),
    path(
        f"{_INSTANCE}/metadata",
        views.RetrieveMetadata.as_view(),
        name="dicomweb-instance-metadata",
    ),
    path(
        f"{_INSTANCE}/rendered", views.RetrieveRendered.as_view(), name="dicomweb-instance-rendered"
    ),
    path(
        f"{_INSTANCE}/thumbnail",
        views.RetrieveThumbnail.as_view(),
        name="dicomweb-instance-thumbnail",
    ),
    path(
        f"{_INSTANCE}/frames/<str:frames>",
        views.RetrieveFrames.as_view(),
        name="dicomweb-frames",
    ),
    path(
        f"{_INSTANCE}/frames/<str:frames>/rendered",
        views.RetrieveRendered.as_view(),
        name="dicomweb-frames-rendered",
    ),
]
