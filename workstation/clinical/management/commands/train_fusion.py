"""``manage.py train_fusion``: fit the late-fusion model on context-dependent phantoms, print
its held-out figures against image-only, and write ``<DRAFT_MODEL_DIR>/fusion.json``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from inference.device import select_device
from inference.fusion.model import FILE_NAME
from inference.fusion.train import train_fusion_model
from inference.models.checkpoint import load_reference_model


class Command(BaseCommand):
    help = (
        "Fit and evaluate the clinical-context fusion model on phantoms whose truth depends on "
        "the context; writes fusion.json next to the drafting model. Phantom figures, not "
        "clinical performance."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--model-dir", type=Path, default=None, help="default: DRAFT_MODEL_DIR")
        parser.add_argument(
            "--out", type=Path, default=None, help="default: <model dir>/fusion.json"
        )
        parser.add_argument("--images", type=int, default=300, help="phantom images to fit on")
        parser.add_argument(
            "--held-out", type=int, default=100, help="phantom images to evaluate on"
        )
        parser.add_argument("--contexts", type=int, default=4, help="contexts per image")
        parser.add_argument("--render-size", type=int, default=256)
        parser.add_argument("--seed", type=int, default=10_000)

    def handle(self, *args: Any, **options: Any) -> None:
        model_dir = Path(options["model_dir"] or settings.DRAFT_MODEL_DIR)
        if not (model_dir / "config.json").is_file():
            raise CommandError(
                f"no image model in {model_dir} (missing config.json): train it first"
            )
        if min(options["images"], options["held_out"], options["contexts"]) < 1:
            raise CommandError("--images, --held-out and --contexts must be at least 1")
        model, card = load_reference_model(model_dir, select_device(settings.DRAFT_DEVICE or None))
        training = train_fusion_model(
            model,
            images=options["images"],
            held_out_images=options["held_out"],
            contexts_per_image=options["contexts"],
            seed=options["seed"],
            render_size=options["render_size"],
            log=self.stdout.write,
        )
        out = Path(options["out"] or model_dir / FILE_NAME)
        training.model.save(out)
        self.stdout.write(f"image model {card.name}:{card.version}; held-out phantom figures:")
        self.stdout.write(f"{'label':<20} {'score':<20} {'AUC':>6} {'ECE':>6} {'Brier':>6}")
        for label, rows in training.report.items():
            for score, figures in rows.items():
                self.stdout.write(
                    f"{label:<20} {score:<20} {figures['auc']:>6.3f} {figures['ece']:>6.3f} "
                    f"{figures['brier']:>6.3f}"
                )
        metrics = training.model.metrics
        self.stdout.write(
            "cross-validated on the fitting cases (grouped by image; chooses penalty and labels):"
        )
        self.stdout.write(f"{'label':<20} {'score':<20} {'AUC':>6} {'logloss':>8} {'penalty':>8}")
        for label, rows in metrics["cross_validated"].items():
            for score, figures in rows.items():
                self.stdout.write(
                    f"{label:<20} {score:<20} {figures['auc']:>6.3f} "
                    f"{figures['log_loss']:>8.4f} {figures['penalty']:>8g}"
                )
        self.stdout.write(f"context adjusts: {', '.join(metrics['kept_labels']) or 'no label'}")
        for label, why in metrics["dropped_labels"].items():
            self.stdout.write(f"image only (context left out): {label}: {why}")
        self.stdout.write(
            self.style.SUCCESS(f"fusion model written to {out} (not for clinical use)")
        )
