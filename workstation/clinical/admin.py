"""Clinical values in the admin, read-only: they change only through an intake path, so
every value keeps its source."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from workstation.clinical.models import ClinicalValue


@admin.register(ClinicalValue)
class ClinicalValueAdmin(admin.ModelAdmin):
    list_display = (
        "patient",
        "code",
        "value_number",
        "value_text",
        "unit",
        "abnormal_flag",
        "source",
        "observed_at",
    )
    list_filter = ("source", "code", "kind")
    search_fields = ("patient__patient_id", "accession_number", "source_ref")

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
