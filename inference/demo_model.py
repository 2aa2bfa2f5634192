"""The embedded demonstration model: the reference model trained by this code on generated
phantom chest radiographs, so that a fresh install drafts something real and honestly labelled.

It is ``inference/configs/demo.toml`` run through the one training path
(``inference.training_run``); the arguments below override that file for benches and tests.
It has never seen a patient's image. Its figures are measured on held-out phantoms and say
nothing about clinical performance; the model card and every draft say so. Imports no Django.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

from inference.models.checkpoint import ModelCard
from inference.training import Stage
from inference.training_config import DEMO_CONFIG, RunConfig, load_run_config
from inference.training_run import (
    PHANTOM_TRAINING_DATA,
    RunResult,
    phantom_item,
    phantom_items,
    run_training,
)

DEMO_NAME = "reference-demo"
DEMO_TRAINING_DATA = PHANTOM_TRAINING_DATA

__all__ = [
    "DEMO_NAME",
    "DEMO_TRAINING_DATA",
    "DemoTraining",
    "demo_config",
    "phantom_item",
    "phantom_items",
    "train_demo_model",
]


@dataclass(frozen=True)
class DemoTraining:
    card: ModelCard
    seconds: float
    train_count: int
    held_out_count: int
    run: RunResult


def demo_config(
    *,
    size: str | None = None,
    count: int | None = None,
    held_out: int | None = None,
    encoder_epochs: int | None = None,
    seed: int | None = None,
    version: str | None = None,
) -> RunConfig:
    """``demo.toml`` with the given values replacing the file's (``None`` keeps the file's)."""
    config = load_run_config(DEMO_CONFIG)
    data = replace(
        config.data,
        count=config.data.count if count is None else count,
        held_out=config.data.held_out if held_out is None else held_out,
        first_seed=config.data.first_seed if seed is None else seed,
    )
    stages = tuple(
        replace(spec, epochs=encoder_epochs)
        if spec.stage is Stage.ENCODER and encoder_epochs is not None
        else spec
        for spec in config.stages
    )
    return replace(
        config,
        size=size or config.size,
        seed=config.seed if seed is None else seed,
        version=version or config.version,
        data=data,
        stages=stages,
    )


def train_demo_model(
    out_dir: Path,
    *,
    run_dir: Path | None = None,
    size: str | None = None,
    count: int | None = None,
    held_out: int | None = None,
    encoder_epochs: int | None = None,
    seed: int | None = None,
    version: str | None = None,
    resume: bool = True,
    progress_bar: bool = False,
    log: Callable[[str], None] = print,
) -> DemoTraining:
    """Train, calibrate, measure and save the demonstration model into ``out_dir``.

    Phantoms ``seed .. seed+count-1`` train it; the next ``held_out`` ones calibrate and
    measure it. ``run_dir`` (default ``<out_dir>-run`` beside it) keeps the checkpoints and
    per-epoch figures; an interrupted run there is resumed.
    """
    config = demo_config(
        size=size,
        count=count,
        held_out=held_out,
        encoder_epochs=encoder_epochs,
        seed=seed,
        version=version,
    )
    result = run_training(
        config,
        run_dir=run_dir or out_dir.with_name(f"{out_dir.name}-run"),
        model_dir=out_dir,
        resume=resume,
        overwrite=not resume,
        progress_bar=progress_bar,
        log=log,
    )
    return DemoTraining(
        result.card, result.seconds, result.train_count, result.held_out_count, result
    )
