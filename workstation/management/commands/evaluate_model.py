"""``manage.py evaluate_model``: a model and the template baseline on held-out data."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from inference.backends.base import ModelNotLoaded
from inference.datasets.records import DatasetError
from inference.evaluation.cases import HELD_OUT_FIRST_SEED
from inference.evaluation.pipeline import BACKENDS, DATASETS, EvaluationRequest, run_evaluation
from inference.evaluation.runner import NotEvaluable
from inference.labels import Label


class Command(BaseCommand):
    help = (
        "Evaluate a reference model directory (default DRAFT_MODEL_DIR) and the template "
        "baseline on held-out phantoms or a MIMIC-CXR-JPG / IU X-ray folder. Writes "
        "evaluation.json, report.html and MODEL_CARD.md."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--model-dir", type=Path, default=None, help="default DRAFT_MODEL_DIR")
        parser.add_argument(
            "--backend",
            choices=BACKENDS,
            default=None,
            help="drafting backend on the model (default: DRAFT_BACKEND when it is one of these)",
        )
        parser.add_argument("--dataset", choices=DATASETS, default="phantom")
        parser.add_argument("--data-dir", type=Path, default=None, help="mimic / iu root folder")
        parser.add_argument("--split", default="test", choices=["train", "validate", "test", "all"])
        parser.add_argument("--count", type=int, default=200, help="phantoms / at most studies")
        parser.add_argument("--first-seed", type=int, default=HELD_OUT_FIRST_SEED)
        parser.add_argument("--out", type=Path, default=None, help="default var/evaluations/...")
        parser.add_argument("--no-baseline", action="store_true", help="skip the template baseline")
        parser.add_argument("--bootstrap", type=int, default=1000, help="bootstrap resamples")
        parser.add_argument("--seed", type=int, default=0, help="bootstrap seed")
        parser.add_argument("--batch-size", type=int, default=8)
        parser.add_argument("--num-beams", type=int, default=4, help="reference: beam width")
        parser.add_argument(
            "--max-new-tokens", type=int, default=None, help="reference: default the model's"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        numbers = ("count", "bootstrap", "batch_size", "num_beams")
        if any(options[name] < 1 for name in numbers):
            raise CommandError("--count, --bootstrap, --batch-size and --num-beams must be >= 1")
        model_dir = Path(options["model_dir"] or settings.DRAFT_MODEL_DIR)
        backend = options["backend"] or (
            settings.DRAFT_BACKEND if settings.DRAFT_BACKEND in BACKENDS else "reference"
        )
        out = options["out"] or (
            Path(settings.VAR_DIR) / "evaluations" / f"{model_dir.name}-{options['dataset']}"
        )
        request = EvaluationRequest(
            model_dir=model_dir,
            out_dir=Path(out),
            backend=backend,
            dataset=options["dataset"],
            data_dir=options["data_dir"],
            split=options["split"],
            count=options["count"],
            first_seed=options["first_seed"],
            baseline=not options["no_baseline"],
            resamples=options["bootstrap"],
            seed=options["seed"],
            batch_size=options["batch_size"],
            device=settings.DRAFT_DEVICE or None,
            critical=frozenset(Label(name) for name in settings.CRITICAL_LABELS),
            bank_cache_dir=Path(settings.SENTENCE_BANK_DIR),
            num_beams=options["num_beams"],
            max_new_tokens=options["max_new_tokens"],
        )
        try:
            run_evaluation(request, log=self.stdout.write)
        except (ModelNotLoaded, DatasetError, NotEvaluable, ValueError) as error:
            raise CommandError(str(error)) from error
