"""Reports in the admin: read-only. Versions can be neither changed nor deleted here (nor
anywhere: the database refuses it too)."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from reports.models import FindingDecision, Report, ReportMetrics, ReportVersion


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class FindingDecisionInline(admin.TabularInline):
    model = FindingDecision
    extra = 0
    can_delete = False
    fields = ("label", "decision", "confidence", "text")
    readonly_fields = ("label", "decision", "confidence", "text")

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(Report)
class ReportAdmin(ReadOnlyAdmin):
    list_display = ["id", "study", "status", "head_number", "signed_by", "signed_at"]
    list_filter = ["status"]


@admin.register(ReportVersion)
class ReportVersionAdmin(ReadOnlyAdmin):
    list_display = ["report", "number", "kind", "author", "created_at"]
    list_filter = ["kind"]
    inlines = [FindingDecisionInline]


@admin.register(ReportMetrics)
class ReportMetricsAdmin(ReadOnlyAdmin):
    list_display = ["report", "char_distance", "word_distance", "computed_at"]
