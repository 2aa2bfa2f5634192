"""A training run from a configuration file: the one training path of the project.

``manage.py train_model --config`` and the demonstration model (``make model``,
``train_demo_model``) both come here. Per epoch of each stage of the schedule
(``inference.training_config``): train with a progress bar (loss, images/s), measure the
held-out set (loss, macro AUC), append the figures to ``<run_dir>/metrics.json``, redraw the
PNG plots and write a checkpoint (model, optimiser, schedule, gradient scaler, random
generators, stage and position). Ctrl-C stops at the next optimiser step, writes a checkpoint
and raises :class:`TrainingInterrupted`, whose message says how to resume. At the end the
detection head is calibrated on the held-out set, measured, and the model saved with its card
into the model directory (replaced atomically). Imports no Django.
"""

from __future__ import annotations

import json
import shutil
import signal
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Final

import numpy as np
import torch
from numpy.typing import NDArray
from tqdm import tqdm

from inference.datasets.phantom import Phantom, render_phantom, sample_spec, to_dicom
from inference.device import select_device
from inference.labels import LABELS, Label
from inference.models.checkpoint import CARD, ModelCard, load_reference_model
from inference.models.reference import ReferenceModel, build_reference_model
from inference.models.tokenizer import format_report
from inference.preprocess import prepare_image
from inference.registry import reference_config
from inference.training import (
    BatchProgress,
    StageTrainer,
    TrainingItem,
    collate,
    detection_logits,
    fit_calibration,
    roc_auc,
)
from inference.training_config import ConfigError, RunConfig
from inference.training_plots import write_plots
from inference.types import ClinicalContext, lab_terms

CHECKPOINT: Final = "checkpoint"
TRAINER_STATE: Final = "trainer.pt"
PROGRESS: Final = "progress.json"
METRICS: Final = "metrics.json"
PHANTOM_TRAINING_DATA: Final = (
    "procedurally generated phantom chest radiographs (inference.datasets.phantom) with "
    "reports built from Indiana University (Open-i) report sentences; no patient images"
)


class TrainingInterrupted(Exception):
    """The run was stopped (Ctrl-C) and its state saved; the message says how to resume."""


class RunDirInUse(ValueError):
    """The run folder holds a checkpoint and neither resume nor overwrite was asked for."""


@dataclass(frozen=True)
class RunData:
    """Training and held-out items, and the model card's description of where they came from."""

    train: Sequence[TrainingItem]
    held_out: Sequence[TrainingItem]
    description: str


@dataclass(frozen=True)
class EpochMetrics:
    """One epoch's figures (held-out ones on the held-out set, uncalibrated logits)."""

    epoch: int  # counted over the whole run, from 1
    stage: str
    stage_epoch: int
    train_loss: float  # mean loss of the stage's objective
    held_out_loss: float  # full loss (report NLL + detection BCE + projector L2)
    held_out_detection_bce: float
    held_out_report_nll: float
    held_out_macro_auc: float | None  # over labels with both classes held out
    learning_rate: float
    seconds: float
    images_per_second: float


@dataclass(frozen=True)
class RunResult:
    model_dir: Path
    run_dir: Path
    card: ModelCard
    epochs: tuple[EpochMetrics, ...]
    seconds: float  # this invocation's wall time (a resumed run counts from its resume)
    train_count: int
    held_out_count: int


# --- data -----------------------------------------------------------------------------------
def phantom_item(phantom: Phantom, image_size: int) -> TrainingItem:
    """A phantom as the serving path sees it: written as DICOM, then ``prepare_image``; its
    prompt carries the labs and vitals (hybrid fusion), its labels the clinical truth
    (``Phantom.clinical_labels``: a consolidation in an infected patient is also pneumonia)."""
    prepared = prepare_image(to_dicom(phantom), size=image_size)
    present = set(phantom.clinical_labels) or {Label.NO_FINDING}
    labels = np.array([1.0 if label in present else 0.0 for label in LABELS], dtype=np.float32)
    context = phantom.context
    prompt = ClinicalContext(
        age_years=context.age,
        sex=context.sex,
        indication=context.indication,
        smoking=context.smoking,
        labs=lab_terms(dict(context.measurements)),
    ).as_prompt()
    report = format_report(phantom.report.findings, phantom.report.impression)
    return TrainingItem(pixels=prepared.pixels, labels=labels, report=report, prompt=prompt)


def phantom_items(first_seed: int, count: int, image_size: int) -> list[TrainingItem]:
    """Phantoms ``first_seed .. first_seed+count-1`` as training items (reproducible)."""
    render_size = max(256, image_size)
    return [
        phantom_item(render_phantom(sample_spec(seed, size=(render_size, render_size))), image_size)
        for seed in range(first_seed, first_seed + count)
    ]


def prepare_data(config: RunConfig) -> RunData:
    """The configured data set as training items at the model's image size.

    Raises:
        ConfigError: a public data set folder was asked for but its loader is missing.
        inference.datasets.records.DatasetError: the folder has missing or malformed files.
    """
    size = reference_config(config.size).image_size
    data = config.data
    if data.source == "phantom":
        return RunData(
            phantom_items(data.first_seed, data.count, size),
            phantom_items(data.first_seed + data.count, data.held_out, size),
            config.training_data or PHANTOM_TRAINING_DATA,
        )
    from inference.training_data import public_dataset

    return public_dataset(config, size)


# --- evaluation -----------------------------------------------------------------------------
@torch.no_grad()
def held_out_figures(
    model: ReferenceModel, items: Sequence[TrainingItem], *, batch_size: int = 32
) -> tuple[float, float, float, float | None]:
    """``(loss, detection BCE, report NLL, macro AUC)`` on ``items``, eval mode. The AUC
    averages labels where both classes occur (``None`` when none does)."""
    model.eval()
    totals = np.zeros(3)
    for start in range(0, len(items), batch_size):
        chunk = items[start : start + batch_size]
        parts = model.loss(collate(model, chunk, model.device))
        values = (parts.total, parts.detection_bce, parts.report_nll)
        totals += np.array([float(v) for v in values]) * len(chunk)
    loss, bce, nll = (float(v) for v in totals / len(items))
    aucs = per_label_auc(detection_logits(model, items), items)
    return loss, bce, nll, (float(np.mean(list(aucs.values()))) if aucs else None)


def per_label_auc(scores: NDArray[np.float32], items: Sequence[TrainingItem]) -> dict[Label, float]:
    """AUC of each label whose held-out column has both classes."""
    targets = np.stack([item.labels for item in items])
    out = {}
    for index, label in enumerate(LABELS):
        column = targets[:, index]
        if 0 < column.sum() < len(column):
            out[label] = roc_auc(scores[:, index], column)
    return out


# --- checkpoints ----------------------------------------------------------------------------
def _replace_dir(staged: Path, target: Path) -> None:
    """Move ``staged`` to ``target``, replacing it; ``target`` is never half-written."""
    previous = target.with_name(f"{target.name}.previous")
    shutil.rmtree(previous, ignore_errors=True)
    if target.exists():
        target.rename(previous)
    staged.rename(target)
    shutil.rmtree(previous, ignore_errors=True)


def save_checkpoint(
    run_dir: Path, model: ReferenceModel, config: RunConfig, progress: dict[str, Any]
) -> Path:
    """Write ``<run_dir>/checkpoint`` (model directory + ``trainer.pt`` + ``progress.json``)."""
    staged = run_dir / f"{CHECKPOINT}.partial"
    shutil.rmtree(staged, ignore_errors=True)
    model.save_pretrained(staged, ModelCard(name=config.name, version=config.version))
    trainer_state = progress.pop("trainer")
    torch.save(trainer_state, staged / TRAINER_STATE)
    (staged / PROGRESS).write_text(json.dumps(progress, indent=2))
    progress["trainer"] = trainer_state
    _replace_dir(staged, run_dir / CHECKPOINT)
    return run_dir / CHECKPOINT


def load_checkpoint(
    run_dir: Path, config: RunConfig, device: torch.device
) -> tuple[ReferenceModel, dict[str, Any]]:
    """The checkpointed model and progress (``trainer`` holds the stage trainer's state).

    Raises:
        ConfigError: the checkpoint was made with a different configuration.
    """
    directory = run_dir / CHECKPOINT
    progress: dict[str, Any] = json.loads((directory / PROGRESS).read_text())
    saved = progress["fingerprint"]
    current = json.loads(json.dumps(config.fingerprint()))
    if saved != current:
        changed = sorted(k for k in {*saved, *current} if saved.get(k) != current.get(k))
        raise ConfigError(
            f"{directory}: made with a different configuration (changed: {', '.join(changed)}); "
            "restore the original settings or start over with --overwrite"
        )
    model, _card = load_reference_model(directory, device)
    progress["trainer"] = torch.load(directory / TRAINER_STATE, weights_only=True)
    return model, progress


# --- Ctrl-C ---------------------------------------------------------------------------------
@contextmanager
def graceful_interrupt(stop: threading.Event, log: Callable[[str], None]) -> Iterator[None]:
    """The first SIGINT sets ``stop`` (the run checkpoints at its next optimiser step); a
    second one interrupts at once. Outside the main thread signals cannot be handled: no-op."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum: int, frame: object) -> None:
        if stop.is_set():
            raise KeyboardInterrupt
        stop.set()
        log("\ninterrupted: saving a checkpoint at the next step (Ctrl-C again to abort)")

    previous = signal.signal(signal.SIGINT, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


# --- the run --------------------------------------------------------------------------------
@dataclass
class _Run:
    """State shared by the epochs of one invocation."""

    config: RunConfig
    run_dir: Path
    model: ReferenceModel
    data: RunData
    device: torch.device
    metrics: list[EpochMetrics]
    stop: threading.Event
    progress_bar: bool
    log: Callable[[str], None]

    def trainer(self, index: int) -> StageTrainer:
        spec = self.config.stages[index]
        training = self.config.training
        return StageTrainer(
            self.model,
            self.data.train,
            stage=spec.stage,
            epochs=spec.epochs,
            lr=spec.lr,
            batch_size=training.batch_size,
            grad_accum=training.grad_accum,
            device=self.device,
            amp=training.mixed_precision,
            context_dropout=training.context_dropout,
            seed=self.config.seed + index,
        )

    def checkpoint(self, index: int, trainer: StageTrainer) -> None:
        save_checkpoint(
            self.run_dir,
            self.model,
            self.config,
            {
                "fingerprint": self.config.fingerprint(),
                "stage_index": index,
                "metrics": [asdict(m) for m in self.metrics],
                "trainer": trainer.state_dict(),
            },
        )

    def epoch(self, index: int, trainer: StageTrainer) -> bool:
        """One epoch (or its rest) with a progress bar; False when stopped part-way."""
        spec = self.config.stages[index]
        started, done_before = time.perf_counter(), trainer.position
        name = spec.stage.name.lower()
        with tqdm(
            total=len(self.data.train),
            initial=done_before,
            desc=f"{name} {trainer.epochs_done + 1}/{spec.epochs}",
            unit="img",
            disable=not self.progress_bar,
            leave=False,
        ) as bar:

            def advance(progress: BatchProgress) -> None:
                bar.update(progress.items)
                bar.set_postfix(loss=f"{progress.loss:.3f}")

            completed = trainer.run_epoch(on_batch=advance, should_stop=self.stop.is_set)
        if not completed:
            return False
        seconds = time.perf_counter() - started
        loss, bce, nll, auc = held_out_figures(self.model, self.data.held_out)
        figures = EpochMetrics(
            epoch=len(self.metrics) + 1,
            stage=name,
            stage_epoch=trainer.epochs_done,
            train_loss=trainer.epoch_losses[-1],
            held_out_loss=loss,
            held_out_detection_bce=bce,
            held_out_report_nll=nll,
            held_out_macro_auc=auc,
            learning_rate=trainer.learning_rate,
            seconds=seconds,
            images_per_second=(len(self.data.train) - done_before) / max(seconds, 1e-9),
        )
        self.metrics.append(figures)
        self.log(
            f"epoch {figures.epoch} ({name} {figures.stage_epoch}/{spec.epochs}): train loss "
            f"{figures.train_loss:.4f}, held-out loss {loss:.4f}, held-out macro AUC "
            f"{'n/a' if auc is None else f'{auc:.3f}'}, {figures.images_per_second:.0f} img/s"
        )
        write_metrics(self.run_dir, self.config, self.metrics, plots=trainer.finished)
        return True


def write_metrics(
    run_dir: Path,
    config: RunConfig,
    metrics: Sequence[EpochMetrics],
    final: dict[str, float] | None = None,
    *,
    plots: bool = True,
) -> None:
    """``metrics.json`` (the config, every epoch, the final held-out figures) and, with
    ``plots``, the PNG plots (redrawn at stage ends and on stopping: drawing costs seconds)."""
    run_dir.mkdir(parents=True, exist_ok=True)
    body: dict[str, Any] = {
        "name": config.name,
        "version": config.version,
        "config": config.fingerprint(),
        "epochs": [asdict(m) for m in metrics],
    }
    if final is not None:
        body["final"] = final
    (run_dir / METRICS).write_text(json.dumps(body, indent=2))
    if plots:
        write_plots(run_dir, metrics)


def run_training(
    config: RunConfig,
    *,
    run_dir: Path,
    model_dir: Path,
    resume: bool = False,
    overwrite: bool = False,
    data: RunData | None = None,
    progress_bar: bool = True,
    log: Callable[[str], None] = print,
) -> RunResult:
    """Train, checkpoint, calibrate, measure and save the model ``config`` describes.

    Args:
        run_dir: checkpoints, ``metrics.json`` and plots.
        model_dir: the finished model (``inference.models.checkpoint`` format), replaced.
        resume: continue from ``run_dir``'s checkpoint (a fresh start when it has none).
        overwrite: discard ``run_dir``'s checkpoint and start over.
        data: prepared items (default: :func:`prepare_data`).

    Raises:
        RunDirInUse: ``run_dir`` has a checkpoint and neither ``resume`` nor ``overwrite``.
        TrainingInterrupted: Ctrl-C; a checkpoint was written first.
        ConfigError: the checkpoint was made with another configuration, or bad data config.
        ValueError: the device cannot be used.
    """
    started = time.perf_counter()
    has_checkpoint = (run_dir / CHECKPOINT / PROGRESS).is_file()
    if has_checkpoint and not (resume or overwrite):
        raise RunDirInUse(
            f"{run_dir} already holds a checkpoint: pass --resume to continue it or "
            "--overwrite to start over"
        )
    if overwrite:
        shutil.rmtree(run_dir / CHECKPOINT, ignore_errors=True)
    device = select_device(config.training.device or None)
    log(f"preparing {config.data.source} data ...")
    data = data or prepare_data(config)
    log(f"{len(data.train)} training and {len(data.held_out)} held-out images")
    if resume and has_checkpoint:
        model, state = load_checkpoint(run_dir, config, device)
        first_stage = int(state["stage_index"])
        metrics = [EpochMetrics(**m) for m in state["metrics"]]
        log(f"resuming {run_dir} at epoch {len(metrics) + 1} (stage {first_stage + 1})")
    else:
        torch.manual_seed(config.seed)
        model = build_reference_model(
            reference_config(config.size),
            [text for item in data.train for text in (item.report, item.prompt)],
        )
        first_stage, state, metrics = 0, {}, []
    run = _Run(
        config,
        run_dir,
        model.to(device),
        data,
        device,
        metrics,
        threading.Event(),
        progress_bar,
        log,
    )
    with graceful_interrupt(run.stop, log):
        _train_stages(run, first_stage, state.get("trainer"))
    return _finish(run, model_dir, started)


def _train_stages(run: _Run, first_stage: int, trainer_state: dict[str, Any] | None) -> None:
    for index in range(first_stage, len(run.config.stages)):
        trainer = run.trainer(index)
        if trainer_state is not None and index == first_stage:
            trainer.load_state_dict(trainer_state)
        try:
            while not trainer.finished:
                completed = run.epoch(index, trainer)
                run.checkpoint(index, trainer)
                if not completed or run.stop.is_set():
                    write_metrics(run.run_dir, run.config, run.metrics)
                    raise TrainingInterrupted(
                        f"training stopped in epoch {len(run.metrics) + (0 if completed else 1)}"
                        f"; checkpoint saved in {run.run_dir / CHECKPOINT}. Resume with "
                        "`python manage.py train_model --config <the same file> --resume` "
                        "(make model and train_demo_model resume by themselves)"
                    )
        except KeyboardInterrupt:
            raise TrainingInterrupted(
                f"training aborted; the last checkpoint in {run.run_dir / CHECKPOINT} is "
                "from the end of the last epoch or step saved. Resume with "
                "`python manage.py train_model --config <the same file> --resume`"
            ) from None
        trainer.finish()


def _finish(run: _Run, model_dir: Path, started: float) -> RunResult:
    """Calibrate on the held-out set, measure, write the card and the model directory."""
    model, config, source = run.model, run.config, run.config.data.source
    # AUC from the raw logits: Platt scaling is fitted on this same held-out set, and a
    # fitted negative scale would turn a label's ranking round and flatter the figure.
    aucs = per_label_auc(detection_logits(model, run.data.held_out), run.data.held_out)
    fit_calibration(model, run.data.held_out)
    figures = {f"auc_{source}_{label.value}": round(auc, 3) for label, auc in aucs.items()}
    if aucs:
        figures[f"macro_auc_{source}"] = round(float(np.mean(list(aucs.values()))), 3)
    card = ModelCard(
        name=config.name,
        version=config.version,
        training_data=run.data.description,
        metrics=figures,
        size=config.size,
    )
    staged = model_dir.with_name(f"{model_dir.name}.partial")
    shutil.rmtree(staged, ignore_errors=True)
    model.save_pretrained(staged, card)
    _replace_dir(staged, model_dir)
    card = ModelCard.from_dict(json.loads((model_dir / CARD).read_text()))  # as saved
    write_metrics(run.run_dir, config, run.metrics, final=figures)
    seconds = time.perf_counter() - started
    macro = figures.get(f"macro_auc_{source}")
    caveat = " (demonstration figures on generated data, not clinical performance)"
    run.log(
        f"model {config.name}:{config.version} saved to {model_dir} ({seconds:.0f} s); "
        f"held-out {source} macro AUC {macro if macro is not None else 'n/a'} over "
        f"{len(aucs)} labels, {len(run.data.held_out)} images"
        + (caveat if source == "phantom" else "")
    )
    if aucs:
        run.log(
            "held-out AUC per label: " + ", ".join(f"{k.value} {v:.3f}" for k, v in aucs.items())
        )
    return RunResult(
        model_dir=model_dir,
        run_dir=run.run_dir,
        card=card,
        epochs=tuple(run.metrics),
        seconds=seconds,
        train_count=len(run.data.train),
        held_out_count=len(run.data.held_out),
    )
