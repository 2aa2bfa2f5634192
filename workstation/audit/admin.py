"""The audit trail in the admin: read-only, and reading it is itself audited."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest, HttpResponse

from workstation.audit.models import AuditAction, AuditEvent
from workstation.audit.services import audit_record


@admin.register(AuditEvent)
class AuditEventAdmin(admin.ModelAdmin):
    list_display = ["at", "username", "action", "outcome", "study_uid", "report_id", "source_ip"]
    list_filter = ["action", "outcome"]
    search_fields = ["username", "study_uid", "object_id"]
    date_hierarchy = "at"

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def changelist_view(
        self, request: HttpRequest, extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        response = super().changelist_view(request, extra_context)
        if response.status_code == 200:
            audit_record(
                action=AuditAction.AUDIT_READ,
                user=request.user,
                object_type="admin",
                detail=request.GET.urlencode()[:500],
            )
        return response

    def change_view(
        self,
        request: HttpRequest,
        object_id: str,
        form_url: str = "",
        extra_context: dict[str, Any] | None = None,
    ) -> HttpResponse:
        response = super().change_view(request, object_id, form_url, extra_context)
        if response.status_code == 200:
            audit_record(
                action=AuditAction.AUDIT_READ,
                user=request.user,
                object_type="admin",
                object_id=object_id,
            )
        return response
