"""Who may see the dashboards: managers and administrators (``studies.view_dashboards``).
Radiologists and clinicians hold no such permission, so they get 403 (audited)."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from rest_framework.permissions import BasePermission

DASHBOARD_PERMISSION = "studies.view_dashboards"


def dashboards_allowed(user: AbstractBaseUser | AnonymousUser) -> bool:
    return bool(user.is_authenticated and getattr(user, "has_perm")(DASHBOARD_PERMISSION))  # noqa: B009


class CanViewDashboards(BasePermission):
    message = "the dashboards are for managers and administrators"

    def has_permission(self, request: Any, view: Any) -> bool:
        return dashboards_allowed(request.user)
