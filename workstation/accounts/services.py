"""Services that write users."""

from __future__ import annotations

import secrets

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group

from workstation.accounts.roles import Role, roles_ensure

DEMO_USERS: tuple[tuple[str, Role], ...] = (
    ("radiologist", Role.RADIOLOGIST),
    ("radiologist2", Role.RADIOLOGIST),
    ("manager", Role.MANAGER),
    ("clinician", Role.CLINICIAN),
    ("admin", Role.ADMIN),
)


def user_create_with_role(*, username: str, role: Role, password: str) -> None:
    """Create or update a user holding exactly ``role`` with ``password``."""
    user_model = get_user_model()
    user, _ = user_model.objects.get_or_create(username=username)
    user.set_password(password)
    user.is_staff = role is Role.ADMIN
    user.is_superuser = role is Role.ADMIN
    user.save()
    user.groups.set([Group.objects.get(name=role.value)])


def demo_users_create() -> list[tuple[str, str, Role]]:
    """(Re)create the demo users with fresh random passwords; returns (user, password, role).

    Passwords are never stored in the repository: each run prints new ones.
    """
    roles_ensure()
    logins = []
    for username, role in DEMO_USERS:
        password = secrets.token_urlsafe(9)
        user_create_with_role(username=username, role=role, password=password)
        logins.append((username, password, role))
    return logins
