"""``manage.py train_model --config <file>``: a checkpointed, resumable training run."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from inference.backends.base import ModelNotLoaded
from inference.datasets.records import DatasetError
from inference.model_registry.commands import register_trained
from inference.training_config import ConfigError, OutputConfig, load_run_config
from inference.training_run import RunDirInUse, TrainingInterrupted, run_training


def _absolute(path: str | Path) -> Path:
    path = Path(path)
    return path if path.is_absolute() else settings.BASE_DIR / path


class Command(BaseCommand):
    help = (
        "Train a reference model from a TOML/JSON config (inference/configs/demo.toml is the "
        "demonstration model's): checkpoints and metrics every epoch into the run folder, "
        "Ctrl-C saves a checkpoint (continue with --resume), the finished model is saved "
        "with its calibration and card and registered."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--config", type=Path, required=True, help="TOML or JSON file")
        parser.add_argument("--out", type=Path, default=None, help="default: output.model_dir")
        parser.add_argument("--run-dir", type=Path, default=None, help="default: output.run_dir")
        mode = parser.add_mutually_exclusive_group()
        mode.add_argument("--resume", action="store_true", help="continue the run folder's run")
        mode.add_argument("--overwrite", action="store_true", help="discard it and start over")
        parser.add_argument("--no-progress", action="store_true", help="no progress bar")
        parser.add_argument("--no-register", action="store_true", help="do not register")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            config = load_run_config(options["config"])
        except ConfigError as error:
            raise CommandError(str(error)) from error
        output = OutputConfig(
            model_dir=str(options["out"] or config.output.model_dir),
            run_dir=str(options["run_dir"] or config.output.run_dir),
        )
        config = replace(config, output=output)
        model_dir, run_dir = _absolute(output.model_dir), _absolute(output.run_dir)
        try:
            result = run_training(
                config,
                run_dir=run_dir,
                model_dir=model_dir,
                resume=options["resume"],
                overwrite=options["overwrite"],
                progress_bar=not options["no_progress"],
                log=self.stdout.write,
            )
        except TrainingInterrupted as stopped:
            raise CommandError(str(stopped), returncode=130) from None
        except KeyboardInterrupt:
            # Before the first epoch (data preparation) or while saving the final model: the
            # run folder holds whatever checkpoint was complete; --resume picks it up.
            raise CommandError(
                f"interrupted outside an epoch; run again with --resume ({run_dir})",
                returncode=130,
            ) from None
        except (RunDirInUse, ConfigError, DatasetError, ModelNotLoaded, ValueError) as error:
            raise CommandError(str(error)) from error
        self.stdout.write(f"per-epoch metrics and plots in {run_dir}")
        if not options["no_register"]:
            register_trained(result.model_dir, self.stdout.write)
