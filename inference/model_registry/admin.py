"""The registry in the admin, read-only: registration and promotion go through the audited
commands (``register_model``, ``promote_model``), never a form."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from inference.model_registry.models import ModelVersion


@admin.register(ModelVersion)
class ModelVersionAdmin(admin.ModelAdmin):
    list_display = ["name", "version", "backend", "status", "created", "promoted_at", "forced"]
    list_filter = ["status", "backend", "name"]
    search_fields = ["name", "version", "sha256"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
