"""``manage.py send_demo_studies``: send the demo studies to the SCP over real C-STORE."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from workstation.dicom.scu import send_files


def demo_files(directory: Path | None) -> list[Path]:
    """The real chest radiographs in ``../shared/data/dicom`` when that folder is there."""
    candidates = [directory] if directory else [settings.BASE_DIR.parent / "shared/data/dicom"]
    for folder in candidates:
        if folder and folder.is_dir():
            return sorted(folder.glob("*.dcm"))
    return []


class Command(BaseCommand):
    help = "Send the demo DICOM studies to the SCP through the real C-STORE path."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--dir", type=Path, default=None, help="folder of .dcm files")
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=None)

    def handle(self, *args: Any, **options: Any) -> None:
        files = demo_files(options["dir"])
        if not files:
            raise CommandError("no demo DICOM files found (looked in ../shared/data/dicom)")
        results = send_files(
            files,
            host=options["host"],
            port=options["port"] or settings.DICOM_PORT,
            called_ae_title=settings.DICOM_AE_TITLE,
            calling_ae_title="RADWS-DEMO",
        )
        for result in results:
            status = f"0x{result.status:04X}" if result.status is not None else result.error
            self.stdout.write(f"  {result.path.name}: {status}")
        failed = [r for r in results if r.status != 0]
        if failed:
            raise CommandError(f"{len(failed)} of {len(results)} demo files were not stored")
