"""``/api/v1/studies/{uid}/assignment``: who should read a study (thin view over the service)."""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.exceptions import NotFound, PermissionDenied
from rest_framework.request import Request
from rest_framework.response import Response

from reports.api import ReportApiBase
from reports.models import Assignment
from reports.services.assignment import study_assign
from workstation.accounts.access import study_scope
from workstation.studies.models import Study


class AssignmentInputSerializer(serializers.Serializer[Any]):
    assignee = serializers.CharField(max_length=150, allow_null=True)  # a username; null unassigns


def _body(study: Study, assignment: Assignment | None) -> dict[str, Any]:
    if assignment is None:
        return {"study_uid": study.study_uid, "assignee": None}
    return {
        "study_uid": study.study_uid,
        "assignee": assignment.assignee.get_username(),
        "assigned_by": assignment.assigned_by.get_username() if assignment.assigned_by else None,
        "assigned_at": assignment.assigned_at.isoformat(),
    }


class StudyAssignmentApi(ReportApiBase):
    """Radiologists and admins read and change a study's assignee (others: 403)."""

    def _study(self, request: Request, study_uid: str) -> Study:
        if not request.user.has_perm("studies.report_study"):
            raise PermissionDenied("your role does not allow this")
        study = study_scope(user=request.user, queryset=Study.objects.all()).filter(
            study_uid=study_uid
        )
        found = study.first()
        if found is None:
            raise NotFound(f"no study {study_uid[:64]!r}")
        return found

    @extend_schema(responses={200: OpenApiTypes.OBJECT})
    def get(self, request: Request, study_uid: str) -> Response:
        study = self._study(request, study_uid)
        assignment = (
            Assignment.objects.filter(study=study).select_related("assignee", "assigned_by").first()
        )
        return Response(_body(study, assignment))

    @extend_schema(request=AssignmentInputSerializer, responses={200: OpenApiTypes.OBJECT})
    def post(self, request: Request, study_uid: str) -> Response:
        """Assign to ``assignee`` (a username), or unassign with ``null``; 400 for a
        username that is unknown or not a radiologist."""
        study = self._study(request, study_uid)
        data = AssignmentInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        username = data.validated_data["assignee"]
        assignee = None
        if username is not None:
            assignee = get_user_model().objects.filter(username=username).first()
            if assignee is None:
                raise serializers.ValidationError({"assignee": [f"no user {username!r}"]})
        assignment = study_assign(
            study=study,
            assignee=assignee,
            by=request.user,  # type: ignore[arg-type]
        )
        return Response(_body(study, assignment))
