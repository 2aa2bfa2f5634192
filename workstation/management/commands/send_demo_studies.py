"""``manage.py send_demo_studies``: send the demo studies to the SCP over real C-STORE."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone

from workstation.dicom.scu import send_files

PHANTOM_SEEDS = range(1, 7)


def shared_demo_files() -> list[Path]:
    """The real chest radiographs in ``../shared/data/dicom``, when that folder is there."""
    folder = settings.BASE_DIR.parent / "shared" / "data" / "dicom"
    return sorted(folder.glob("*.dcm")) if folder.is_dir() else []


def phantom_demo_files(out_dir: Path, seeds: range = PHANTOM_SEEDS) -> list[Path]:
    """Generated chest radiograph phantoms (demonstration data, not patients), dated today."""
    from inference.datasets.phantom import render_phantom, sample_spec, write_dicom

    out_dir.mkdir(parents=True, exist_ok=True)
    now = timezone.now().replace(microsecond=0)
    files = []
    for offset, seed in enumerate(seeds):
        phantom = render_phantom(sample_spec(seed, size=(1024, 1024)))
        when = now - dt.timedelta(minutes=20 * (len(seeds) - offset))
        files.append(write_dicom(phantom, out_dir / f"phantom-{seed}.dcm", study_datetime=when))
    return files


class Command(BaseCommand):
    help = "Send the demo DICOM studies to the SCP through the real C-STORE path."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--dir", type=Path, default=None, help="folder of .dcm files")
        parser.add_argument(
            "--phantoms",
            action="store_true",
            help="send generated phantoms even if real files exist",
        )
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=None)

    def handle(self, *args: Any, **options: Any) -> None:
        if options["dir"]:
            files = sorted(Path(options["dir"]).glob("*.dcm"))
        else:
            files = [] if options["phantoms"] else shared_demo_files()
            if not files:
                self.stdout.write("Generating demonstration phantoms (not real patients)...")
                files = phantom_demo_files(settings.VAR_DIR / "demo")
        if not files:
            raise CommandError("no demo DICOM files to send")
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
