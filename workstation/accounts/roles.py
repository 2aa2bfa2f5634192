"""Roles are Django groups with permissions; this is the one place that says which."""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser, Group, Permission


class Role(StrEnum):
    RADIOLOGIST = "radiologist"
    MANAGER = "manager"
    CLINICIAN = "clinician"
    ADMIN = "admin"


# "app_label.codename" for each role; admin gets every permission of the project's apps.
ROLE_PERMISSIONS: dict[Role, tuple[str, ...]] = {
    Role.RADIOLOGIST: (
        "studies.view_study",
        "studies.view_series",
        "studies.view_instance",
        "studies.change_study",
        "studies.report_study",
        "studies.view_clinicalcontext",
    ),
    Role.MANAGER: ("studies.view_dashboards",),
    Role.CLINICIAN: ("studies.view_study",),
    Role.ADMIN: (),
}
ADMIN_APPS = ("studies", "accounts", "reports", "audit", "auth", "authtoken", "axes")


def roles_ensure() -> None:
    """Create the role groups and (re)assign their permissions; idempotent."""
    for role, codes in ROLE_PERMISSIONS.items():
        group, _ = Group.objects.get_or_create(name=role.value)
        if role is Role.ADMIN:
            perms = list(Permission.objects.filter(content_type__app_label__in=ADMIN_APPS))
        else:
            perms = []
            for code in codes:
                app_label, codename = code.split(".")
                perms.extend(
                    Permission.objects.filter(content_type__app_label=app_label, codename=codename)
                )
        group.permissions.set(perms)


def roles_ensure_on_migrate(**kwargs: Any) -> None:
    roles_ensure()


def user_roles(user: AbstractBaseUser | AnonymousUser) -> set[Role]:
    """The roles a user holds (superusers hold admin)."""
    if not user.is_authenticated:
        return set()
    names = set(getattr(user, "groups").values_list("name", flat=True))  # noqa: B009
    roles = {role for role in Role if role.value in names}
    if getattr(user, "is_superuser", False):
        roles.add(Role.ADMIN)
    return roles
