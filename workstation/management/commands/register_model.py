"""``manage.py register_model --model-dir DIR [--evaluation FILE]``: record a model version."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from inference.model_registry.services import model_version_register
from inference.model_registry.weights import RegistryError


class Command(BaseCommand):
    help = (
        "Register a model directory in the model registry: name and version (model card, or "
        "--name/--version), backend, SHA-256 of the weights, and the evaluate_model JSON's "
        "summary as its metrics (what promote_model checks against the release thresholds)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--model-dir", type=Path, required=True)
        parser.add_argument("--evaluation", type=Path, default=None, help="evaluate_model JSON")
        parser.add_argument("--model-name", default="", help="when the directory has no model card")
        parser.add_argument("--model-version", default="", help="likewise")
        parser.add_argument(
            "--replace",
            action="store_true",
            help="the version is registered with other weights: record these instead "
            "(refused for a promoted version)",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            row, created = model_version_register(
                model_dir=options["model_dir"],
                evaluation=options["evaluation"],
                name=options["model_name"],
                version=options["model_version"],
                replace=options["replace"],
            )
        except RegistryError as error:
            raise CommandError(str(error)) from error
        self.stdout.write(
            f"{'registered' if created else 'updated'} {row.key} ({row.backend}, {row.path}, "
            f"sha256 {row.sha256}, {row.status}); metrics: "
            + (
                ", ".join(f"{k} {v}" for k, v in sorted(row.metrics.items()) if _is_number(v))
                or "none (no evaluation)"
            )
        )


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)
