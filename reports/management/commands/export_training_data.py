"""``manage.py export_training_data --out DIR [--since DATE] [--until DATE] [--salt-file F]``:
signed reports with their images, de-identified, in a MIMIC-CXR-JPG-like layout."""

from __future__ import annotations

import datetime as dt
import getpass
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from reports.services.training_export import TrainingExportError, training_data_export


def _date(value: str) -> dt.date:
    try:
        return dt.date.fromisoformat(value)
    except ValueError as exc:
        raise CommandError(f"not a date (YYYY-MM-DD): {value!r}") from exc


class Command(BaseCommand):
    help = (
        "Export every signed report with its images for retraining, de-identified per DICOM "
        "PS3.15 Basic Profile; instances with burned-in annotation are held back."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--out", required=True, type=Path, help="a new or empty folder")
        parser.add_argument("--since", type=_date, help="signed on or after (YYYY-MM-DD)")
        parser.add_argument("--until", type=_date, help="signed on or before (YYYY-MM-DD)")
        parser.add_argument(
            "--salt-file",
            type=Path,
            help="secret key of the pseudonyms (reuse it to keep ids across exports); "
            "default: a random one, never stored",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        salt = options["salt_file"].read_bytes() if options["salt_file"] else None
        try:
            summary = training_data_export(
                out_dir=options["out"],
                since=options["since"],
                until=options["until"],
                salt=salt,
                operator=f"cli:{getpass.getuser()}",
            )
        except (TrainingExportError, ValueError) as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(
            f"{summary.studies} studies, {summary.images} images written to {summary.out_dir}"
        )
        for held in summary.held_back:
            where = f"instance {held.instance_pk}" if held.instance_pk else "study"
            self.stdout.write(f"  held back: {where} of {held.study_uid}: {held.reason}")
