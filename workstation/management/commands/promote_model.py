"""``manage.py promote_model NAME VERSION --by USER [--force --reason TEXT]``."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError, CommandParser

from inference.model_registry.services import PromotionRefused, model_version_promote


class Command(BaseCommand):
    help = (
        "Promote a registered model version to serve its name (DRAFT_MODEL_NAME). Refused when "
        "its evaluation misses RELEASE_MIN_CRITICAL_SENSITIVITY / RELEASE_MAX_HALLUCINATION_RATE "
        "or is missing, unless --force with --reason. Audited either way."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("name")
        parser.add_argument("model_version", metavar="version")
        parser.add_argument("--by", required=True, help="username of the person promoting")
        parser.add_argument("--force", action="store_true", help="despite the thresholds")
        parser.add_argument("--reason", default="", help="required with --force; recorded")

    def handle(self, *args: Any, **options: Any) -> None:
        user = get_user_model().objects.filter(username=options["by"], is_active=True).first()
        if user is None:
            raise CommandError(f"--by {options['by']!r}: no such active user")
        try:
            row = model_version_promote(
                name=options["name"],
                version=options["model_version"],
                user=user,
                force=options["force"],
                reason=options["reason"],
            )
        except PromotionRefused as refused:
            raise CommandError(f"promotion refused: {refused}") from refused
        note = " (FORCED past the release thresholds)" if row.forced else ""
        self.stdout.write(f"{row.key} promoted by {user.get_username()}{note}")
        if row.name != settings.DRAFT_MODEL_NAME:
            self.stdout.write(
                f"drafting serves it once DRAFT_MODEL_NAME={row.name} (now "
                f"{settings.DRAFT_MODEL_NAME or 'unset: DRAFT_MODEL_DIR serves'})"
            )
