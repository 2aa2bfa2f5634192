"""``manage.py export_onnx``: export the drafting model's detector to ONNX and check parity."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from inference.backends.base import ModelNotLoaded
from inference.onnx_export import (
    FP32_TOLERANCE,
    INT8_TOLERANCE,
    ParityError,
    export_onnx,
    phantom_parity_items,
)


class Command(BaseCommand):
    help = (
        "Export a reference model directory (default DRAFT_MODEL_DIR) to ONNX (FP32 and INT8), "
        "check parity with PyTorch on phantoms and write onnx_manifest.json. Serve the result "
        "with DRAFT_BACKEND=onnx and DRAFT_MODEL_DIR=<out>."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--source", type=Path, default=None, help="default: DRAFT_MODEL_DIR")
        parser.add_argument("--out", type=Path, default=None, help="default: <source>-onnx")
        parser.add_argument("--opset", type=int, default=17)
        parser.add_argument("--no-int8", action="store_true", help="FP32 only")
        parser.add_argument("--parity-count", type=int, default=16, help="phantoms to compare")
        parser.add_argument("--tolerance", type=float, default=FP32_TOLERANCE)
        parser.add_argument("--int8-tolerance", type=float, default=INT8_TOLERANCE)

    def handle(self, *args: Any, **options: Any) -> None:
        source = Path(options["source"] or settings.DRAFT_MODEL_DIR)
        out = Path(options["out"] or source.with_name(f"{source.name}-onnx"))
        try:
            from inference.models.config import ReferenceConfig

            size = ReferenceConfig.load(source / "config.json").image_size
            result = export_onnx(
                source,
                out,
                opset=options["opset"],
                quantize=not options["no_int8"],
                parity_items=phantom_parity_items(size, options["parity_count"]),
                tolerance=options["tolerance"],
                int8_tolerance=options["int8_tolerance"],
            )
        except (ModelNotLoaded, ParityError, OSError, ValueError) as error:
            raise CommandError(str(error)) from error
        for report in result.parity.values():
            self.stdout.write(report.describe())
        self.stdout.write(f"wrote {result.manifest}")
