"""``manage.py train_demo_model``: train the embedded demonstration model (phantoms, CPU),
then its clinical-context fusion model (``train_fusion``) when ``fusion.json`` is missing.

The same training path as ``train_model --config inference/configs/demo.toml`` (that file,
with the options below replacing its values)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError, CommandParser

from inference.demo_model import train_demo_model
from inference.model_registry.commands import register_trained
from inference.training_config import ConfigError
from inference.training_run import TrainingInterrupted


class Command(BaseCommand):
    help = (
        "Train the demonstration reference model on generated phantoms and save it where "
        "drafting loads it (DRAFT_MODEL_DIR), then register it. Not for clinical use."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--out", type=Path, default=None, help="default: DRAFT_MODEL_DIR")
        parser.add_argument("--size", default=None, choices=["tiny", "small", "base"])
        parser.add_argument("--count", type=int, default=None, help="training phantoms")
        parser.add_argument("--held-out", type=int, default=None, help="calibration phantoms")
        parser.add_argument("--seed", type=int, default=None)
        parser.add_argument("--if-missing", action="store_true", help="skip if a model exists")
        parser.add_argument(
            "--no-fusion",
            action="store_true",
            help="do not fit the context fusion model (fusion.json) when it is missing",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        out = Path(options["out"] or settings.DRAFT_MODEL_DIR)
        if settings.DRAFT_BACKEND == "retrieval":
            self._bank()  # cached: instant when it was built before
        if options["if_missing"] and (out / "config.json").exists():
            self.stdout.write(f"demonstration model present in {out}")
            register_trained(out, self.stdout.write)
            self._fusion(out, options)
            return
        try:
            train_demo_model(
                out,
                run_dir=Path(settings.VAR_DIR) / "runs" / out.name,
                size=options["size"],
                count=options["count"],
                held_out=options["held_out"],
                seed=options["seed"],
                log=self.stdout.write,
            )
        except TrainingInterrupted as stopped:
            raise CommandError(str(stopped), returncode=130) from None
        except ConfigError as error:
            raise CommandError(str(error)) from error
        register_trained(out, self.stdout.write)
        self._fusion(out, options)

    def _fusion(self, out: Path, options: dict[str, Any]) -> None:
        """Fit the fusion model next to the image model once (about a minute on a CPU), so
        the drafts of ``make run`` show per-input contributions."""
        if options["no_fusion"] or (out / "fusion.json").exists():
            return
        self.stdout.write("fitting the clinical-context fusion model (once) ...")
        call_command("train_fusion", model_dir=out, stdout=self.stdout)

    def _bank(self) -> None:
        from inference.sentence_bank import load_iu_bank

        cache = Path(settings.SENTENCE_BANK_DIR)
        self.stdout.write(f"embedding the IU X-ray sentence bank into {cache} (once; minutes) ...")
        bank = load_iu_bank(cache)
        self.stdout.write(f"sentence bank ready: {len(bank)} sentences")
