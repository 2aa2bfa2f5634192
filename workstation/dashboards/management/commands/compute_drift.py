"""``manage.py compute_drift``: record image and label drift of the serving model, or
(with ``--reference-*``) first make the reference set it is measured against."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from workstation.dashboards.drift import DriftError, drift_reference_make, drift_run, serving_dir


class Command(BaseCommand):
    help = (
        "Measure drift of the serving model (the promoted version of DRAFT_MODEL_NAME, else "
        "DRAFT_MODEL_DIR): image-embedding MMD against "
        "the model version's reference set and chi-square label drift; record a DriftRun."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        source = parser.add_mutually_exclusive_group()
        source.add_argument(
            "--reference-phantoms",
            type=int,
            metavar="N",
            help="first make the reference from N generated phantoms (the demonstration "
            "model's training distribution: seeds 0..N-1)",
        )
        source.add_argument(
            "--reference-days",
            type=int,
            metavar="D",
            help="first make the reference from the studies drafted in the D days before "
            "the drift window (e.g. a validation period)",
        )
        parser.add_argument("--model-dir", type=Path, default=None)

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            model_dir = options["model_dir"] or serving_dir()
            if options["reference_phantoms"] or options["reference_days"]:
                reference = drift_reference_make(
                    model_dir=model_dir,
                    phantoms=options["reference_phantoms"],
                    days=options["reference_days"],
                )
                self.stdout.write(
                    f"reference for {reference.model_version}: {reference.count} embeddings "
                    f"({reference.dim}-d, bandwidth {reference.bandwidth:.4g}) at "
                    f"{reference.embeddings_path}"
                )
            run = drift_run(model_dir=model_dir)
        except DriftError as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(_describe(run.computed_at, run))


def _describe(at: dt.datetime, run: Any) -> str:
    lines = [f"drift of {run.model_version} at {at.isoformat()} ({run.recent_count} studies)"]
    if run.mmd2 is not None:
        lines.append(
            f"  image MMD^2 {run.mmd2:.5g} vs threshold {run.mmd_threshold:.5g} "
            f"(false-alarm rate {run.false_alarm_rate:g}, {run.permutations} permutations, "
            f"p = {run.mmd_p_value:.3g}): {'ALARM' if run.embedding_alarm else 'no alarm'}"
        )
    if run.label_p_value is not None:
        lines.append(
            f"  label chi2 {run.label_chi2:.4g} (dof {run.label_dof}, p = "
            f"{run.label_p_value:.3g}): {'ALARM' if run.label_alarm else 'no alarm'}"
        )
    if run.note:
        lines.append(f"  note: {run.note}")
    return "\n".join(lines)
