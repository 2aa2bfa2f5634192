"""``manage.py create_demo_users``: one user per role with a fresh password, printed."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from workstation.accounts.services import demo_users_create


class Command(BaseCommand):
    help = "Create (or reset) the demo users, one per role, and print their logins."

    def handle(self, *args: Any, **options: Any) -> None:
        self.stdout.write("Demo logins (new passwords on every run):")
        for username, password, role in demo_users_create():
            self.stdout.write(f"  {role.value:<12} {username:<14} {password}")
