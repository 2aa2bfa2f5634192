"""``GET /api/v1/audit``: the trail for administrators; every read is itself audited."""

from __future__ import annotations

from typing import Any, cast

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.exceptions import PermissionDenied
from rest_framework.pagination import LimitOffsetPagination
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from workstation.accounts.roles import Role, user_roles
from workstation.audit import selectors
from workstation.audit.models import AuditAction, AuditEvent
from workstation.audit.services import audit_record


class AuditFilterSerializer(serializers.Serializer[dict[str, Any]]):
    user = serializers.CharField(max_length=150, required=False)
    action = serializers.ChoiceField(choices=[a.value for a in AuditAction], required=False)
    since = serializers.DateTimeField(required=False)
    until = serializers.DateTimeField(required=False)
    study_uid = serializers.CharField(max_length=64, required=False)
    report_id = serializers.IntegerField(min_value=1, required=False)


class AuditEventOutputSerializer(serializers.ModelSerializer[AuditEvent]):
    class Meta:
        model = AuditEvent
        fields = [
            "id",
            "at",
            "user_id",
            "username",
            "action",
            "outcome",
            "object_type",
            "object_id",
            "study_uid",
            "report_id",
            "source_ip",
            "path",
            "detail",
        ]


class AuditListApi(APIView):
    @extend_schema(
        parameters=[AuditFilterSerializer], responses=AuditEventOutputSerializer(many=True)
    )
    def get(self, request: Request) -> Response:
        if Role.ADMIN not in user_roles(request.user):
            raise PermissionDenied("only administrators read the audit trail")
        query = AuditFilterSerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        queryset = selectors.audit_event_list(
            filters=cast(selectors.AuditFilters, query.validated_data)
        )
        paginator = LimitOffsetPagination()
        page = paginator.paginate_queryset(queryset, request, view=self)
        audit_record(
            action=AuditAction.AUDIT_READ,
            user=request.user,
            object_type="audit",
            detail=request.query_params.urlencode()[:500],
        )
        return paginator.get_paginated_response(AuditEventOutputSerializer(page, many=True).data)
