"""``manage.py train_demo_model``: train the embedded demonstration model (phantoms, CPU)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandParser

from inference.demo_model import train_demo_model


class Command(BaseCommand):
    help = (
        "Train the demonstration reference model on generated phantoms and save it where "
        "drafting loads it (DRAFT_MODEL_DIR). Not for clinical use."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--out", type=Path, default=None, help="default: DRAFT_MODEL_DIR")
        parser.add_argument("--size", default="tiny", choices=["tiny", "small", "base"])
        parser.add_argument("--count", type=int, default=240, help="training phantoms")
        parser.add_argument("--held-out", type=int, default=80, help="calibration phantoms")
        parser.add_argument("--seed", type=int, default=0)
        parser.add_argument("--if-missing", action="store_true", help="skip if a model exists")

    def handle(self, *args: Any, **options: Any) -> None:
        out = Path(options["out"] or settings.DRAFT_MODEL_DIR)
        if settings.DRAFT_BACKEND == "retrieval":
            self._bank()  # cached: instant when it was built before
        if options["if_missing"] and (out / "config.json").exists():
            self.stdout.write(f"demonstration model present in {out}")
            return
        train_demo_model(
            out,
            size=options["size"],
            count=options["count"],
            held_out=options["held_out"],
            seed=options["seed"],
            log=self.stdout.write,
        )

    def _bank(self) -> None:
        from inference.sentence_bank import load_iu_bank

        cache = Path(settings.SENTENCE_BANK_DIR)
        self.stdout.write(f"embedding the IU X-ray sentence bank into {cache} (once; minutes) ...")
        bank = load_iu_bank(cache)
        self.stdout.write(f"sentence bank ready: {len(bank)} sentences")
