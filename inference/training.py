"""Training of the reference model: the same code for tests, the CLI and the workers.

Stages (learning rates in ``inference.registry.STAGE_LEARNING_RATES``):

* 0 - encoder + the detection head's image part, detection BCE only. Our encoders start
  from random weights, so they must learn to see before LLaVA's stage 1 can align them;
  skipped for a pretrained encoder.
* 1 - projector + detection head (LLaVA stage 1: alignment), full loss, LM frozen.
* 2 - projector + language model (LLaVA stage 2: instruction tuning), full loss.

Cosine schedule with a short linear warm-up, gradient accumulation, mixed precision only on
CUDA (float16 autocast with gradient scaling). :class:`StageTrainer` runs a stage epoch by
epoch and can be checkpointed between optimiser steps; :func:`train` runs one in a go.
Checkpointed runs from a config file are ``inference.training_run``. Imports no Django.
"""

from __future__ import annotations

import math
import random
import time
from collections.abc import Callable, Sequence
from contextlib import nullcontext
from dataclasses import dataclass
from enum import IntEnum
from typing import Any

import numpy as np
import torch
from numpy.typing import NDArray

from inference.models.calibration import Calibration, fit_platt
from inference.models.reference import NO_CONTEXT_PROMPT, Batch, ReferenceModel
from inference.preprocess import normalise
from inference.registry import LOSS_WEIGHTS, STAGE_LEARNING_RATES, LossWeights

#: Share of optimiser steps spent warming the learning rate up linearly.
WARMUP_FRACTION = 0.05
#: Probability that an item's clinical context is replaced by the "no context" prompt, so the
#: model also learns to draft (and detect) without it.
CONTEXT_DROPOUT = 0.2
#: Gradient-norm clip.
MAX_GRAD_NORM = 1.0


class Stage(IntEnum):
    ENCODER = 0
    PROJECTOR = 1
    LANGUAGE = 2


@dataclass(frozen=True)
class TrainingItem:
    """One image with its labels, report and context.

    pixels: (S, S) float32 in 0..1, ``PreparedImage.pixels`` (normalised here, not before).
    labels: (14,) float32 in {0, 1}, ``LABELS`` order.
    """

    pixels: NDArray[np.float32]
    labels: NDArray[np.float32]
    report: str  # ``tokenizer.format_report`` layout
    prompt: str  # ``ClinicalContext.as_prompt()``


@dataclass(frozen=True)
class TrainingResult:
    stage: Stage
    step_losses: tuple[float, ...]  # total loss of each optimiser step
    epoch_losses: tuple[float, ...]  # mean total loss of each epoch
    seconds: float
    optimiser_steps: int


def set_trainable(model: ReferenceModel, stage: Stage) -> list[torch.nn.Parameter]:
    """Freeze everything, then unfreeze what ``stage`` trains; returns those parameters."""
    for parameter in model.parameters():
        parameter.requires_grad_(False)
    heads: list[torch.nn.Module] = [model.detection_image, model.detection_context]
    by_stage: dict[Stage, list[torch.nn.Module]] = {
        # Image only: with the context head trainable too, a small set is memorised through
        # its (nearly unique) prompts before the encoder learns to see.
        Stage.ENCODER: [model.encoder, model.detection_image],
        Stage.PROJECTOR: [model.projector, *heads],
        Stage.LANGUAGE: [model.projector, model.lm],
    }
    modules = by_stage[stage]
    trainable = [p for module in modules for p in module.parameters()]
    for parameter in trainable:
        parameter.requires_grad_(True)
    return trainable


def collate(
    model: ReferenceModel,
    items: Sequence[TrainingItem],
    device: torch.device,
    *,
    context_dropout: float = 0.0,
    rng: random.Random | None = None,
) -> Batch:
    """Items -> a :class:`Batch` on ``device`` (pixels normalised, texts tokenised)."""
    rng = rng or random.Random(0)
    pixels = np.stack([normalise(item.pixels) for item in items])[:, None]
    labels = np.stack([np.asarray(item.labels, dtype=np.float32) for item in items])
    prompts = [
        NO_CONTEXT_PROMPT if rng.random() < context_dropout else item.prompt for item in items
    ]
    return Batch(
        pixels=torch.from_numpy(pixels).to(device),
        labels=torch.from_numpy(labels).to(device),
        prompt_ids=tuple(model.encode_prompt(p) for p in prompts),
        report_ids=tuple(
            tuple(model.tokenizer.encode(item.report, model.config.max_report_tokens))
            for item in items
        ),
    )


def cosine_with_warmup(total_steps: int) -> Callable[[int], float]:
    """LR multiplier per optimiser step: linear warm-up, then cosine decay to 0."""
    warmup = max(1, math.ceil(WARMUP_FRACTION * total_steps))

    def factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        progress = (step - warmup) / max(1, total_steps - warmup)
        return 0.5 * (1.0 + math.cos(math.pi * min(progress, 1.0)))

    return factor


@dataclass(frozen=True)
class BatchProgress:
    """What :meth:`StageTrainer.run_epoch` reports after each micro-batch (progress bars)."""

    items: int  # images in this micro-batch
    loss: float  # its total loss
    stepped: bool  # an optimiser step followed it


class StageTrainer:
    """One stage of training, resumable between optimiser steps.

    Holds the stage's optimiser, cosine schedule, gradient scaler (mixed precision on CUDA
    only), its random generators and its position in the current epoch, so that
    :meth:`state_dict` taken after any optimiser step and loaded into a fresh trainer over the
    same model weights continues exactly as an uninterrupted run would. Every epoch ends with
    an optimiser step (a partial accumulation group is stepped), so no gradient is ever
    pending at a checkpoint.

    Args:
        stage: 0, 1 or 2 (see the module docstring).
        lr: peak learning rate; default the registry's rate for the stage.
        grad_accum: micro-batches per optimiser step (effective batch = batch_size * this).
        device: where to train; default the model's device.
        amp: mixed precision (float16 autocast + gradient scaling); ignored unless CUDA.

    Raises:
        ValueError: empty dataset, or batch_size / grad_accum / epochs below 1.
    """

    def __init__(
        self,
        model: ReferenceModel,
        dataset: Sequence[TrainingItem],
        *,
        stage: Stage | int,
        epochs: int = 1,
        lr: float | None = None,
        batch_size: int = 16,
        grad_accum: int = 1,
        device: torch.device | None = None,
        amp: bool = False,
        weights: LossWeights = LOSS_WEIGHTS,
        context_dropout: float = CONTEXT_DROPOUT,
        seed: int = 0,
    ) -> None:
        if not dataset or min(batch_size, grad_accum, epochs) < 1:
            raise ValueError("need a non-empty dataset and batch_size, grad_accum, epochs >= 1")
        self.model, self.dataset, self.stage = model, dataset, Stage(stage)
        self.epochs, self.batch_size, self.grad_accum = epochs, batch_size, grad_accum
        self.weights, self.context_dropout = weights, context_dropout
        self.device = device or model.device
        model.to(self.device)
        self.parameters = set_trainable(model, self.stage)
        self.optimiser = torch.optim.AdamW(
            self.parameters, lr=lr or STAGE_LEARNING_RATES[int(self.stage)]
        )
        batches_per_epoch = math.ceil(len(dataset) / batch_size)
        total_steps = math.ceil(batches_per_epoch / grad_accum) * epochs
        self.schedule = torch.optim.lr_scheduler.LambdaLR(
            self.optimiser, cosine_with_warmup(total_steps)
        )
        self.use_amp = amp and self.device.type == "cuda"
        # float16 autocast needs its gradients scaled; disabled (a no-op) everywhere else.
        self.scaler = torch.amp.GradScaler("cuda", enabled=self.use_amp)
        self.rng = random.Random(seed)
        torch.manual_seed(seed)
        self.epochs_done = 0
        self.order: list[int] = []  # this epoch's item order; empty between epochs
        self.position = 0  # next index into ``order``
        self.micro = 0  # micro-batches since the last optimiser step
        self.pending = 0.0  # their loss, for the step's record
        self.epoch_total = 0.0
        self.step_losses: list[float] = []
        self.epoch_losses: list[float] = []
        self.seconds = 0.0

    @property
    def finished(self) -> bool:
        return self.epochs_done >= self.epochs

    @property
    def learning_rate(self) -> float:
        return float(self.optimiser.param_groups[0]["lr"])

    def run_epoch(
        self,
        *,
        on_batch: Callable[[BatchProgress], None] | None = None,
        should_stop: Callable[[], bool] | None = None,
    ) -> bool:
        """Train to the end of the current epoch (starting one if none is under way).

        ``should_stop`` is asked after every optimiser step; when it answers true the
        trainer stops there and returns ``False`` (state ready for :meth:`state_dict`).
        Returns ``True`` when the epoch was completed.
        """
        if self.finished:
            raise ValueError(f"stage {self.stage.name} already ran its {self.epochs} epochs")
        started = time.perf_counter()
        self.model.train()
        if not self.order:
            self.order = list(range(len(self.dataset)))
            self.rng.shuffle(self.order)
            self.position, self.epoch_total = 0, 0.0
        try:
            while self.position < len(self.order):
                chunk = self.order[self.position : self.position + self.batch_size]
                loss = self._micro_batch([self.dataset[i] for i in chunk])
                self.position += len(chunk)
                stepped = self.micro == self.grad_accum or self.position == len(self.order)
                if stepped:
                    self._step()
                if on_batch is not None:
                    on_batch(BatchProgress(len(chunk), loss, stepped))
                stopping = stepped and should_stop is not None and should_stop()
                if stopping and self.position < len(self.order):
                    return False
            self.epoch_losses.append(self.epoch_total / len(self.dataset))
            self.epochs_done += 1
            self.order, self.position = [], 0
            return True
        finally:
            self.seconds += time.perf_counter() - started

    def _micro_batch(self, items: Sequence[TrainingItem]) -> float:
        batch = collate(
            self.model, items, self.device, context_dropout=self.context_dropout, rng=self.rng
        )
        autocast = torch.autocast("cuda", dtype=torch.float16) if self.use_amp else nullcontext()
        with autocast:
            loss = self.model.loss(batch, self.weights, report=self.stage is not Stage.ENCODER)
        total = loss.total.float()
        self.scaler.scale(total / self.grad_accum).backward()
        value = float(total.detach())
        self.micro += 1
        self.pending += value
        self.epoch_total += value * len(items)
        return value

    def _step(self) -> None:
        self.scaler.unscale_(self.optimiser)  # clip the true gradients, not scaled ones
        torch.nn.utils.clip_grad_norm_(self.parameters, MAX_GRAD_NORM)
        self.scaler.step(self.optimiser)
        self.scaler.update()
        self.optimiser.zero_grad(set_to_none=True)
        self.schedule.step()
        self.step_losses.append(self.pending / self.micro)
        self.micro, self.pending = 0, 0.0

    def finish(self) -> TrainingResult:
        """Unfreeze every parameter again, switch to eval mode and summarise the stage."""
        for parameter in self.model.parameters():
            parameter.requires_grad_(True)
        self.model.eval()
        return TrainingResult(
            stage=self.stage,
            step_losses=tuple(self.step_losses),
            epoch_losses=tuple(self.epoch_losses),
            seconds=self.seconds,
            optimiser_steps=len(self.step_losses),
        )

    def state_dict(self) -> dict[str, Any]:
        """Everything but the model weights needed to continue; only valid between
        optimiser steps (which is where :meth:`run_epoch` stops)."""
        return {
            "stage": int(self.stage),
            "epochs": self.epochs,
            "epochs_done": self.epochs_done,
            "order": list(self.order),
            "position": self.position,
            "epoch_total": self.epoch_total,
            "step_losses": list(self.step_losses),
            "epoch_losses": list(self.epoch_losses),
            "seconds": self.seconds,
            "optimiser": self.optimiser.state_dict(),
            "schedule": self.schedule.state_dict(),
            "scaler": self.scaler.state_dict(),
            "python_rng": self.rng.getstate(),
            "torch_rng": torch.get_rng_state(),
            "cuda_rng": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore :meth:`state_dict`'s output (the model's weights are loaded separately).

        Raises:
            ValueError: the state belongs to another stage or epoch count.
        """
        if (state["stage"], state["epochs"]) != (int(self.stage), self.epochs):
            raise ValueError(
                f"checkpoint is stage {state['stage']} of {state['epochs']} epochs, "
                f"not stage {int(self.stage)} of {self.epochs}"
            )
        self.epochs_done, self.position = int(state["epochs_done"]), int(state["position"])
        self.order = [int(i) for i in state["order"]]
        self.epoch_total, self.seconds = float(state["epoch_total"]), float(state["seconds"])
        self.step_losses = [float(v) for v in state["step_losses"]]
        self.epoch_losses = [float(v) for v in state["epoch_losses"]]
        self.optimiser.load_state_dict(state["optimiser"])
        self.schedule.load_state_dict(state["schedule"])
        if state["scaler"]:
            self.scaler.load_state_dict(state["scaler"])
        version, internal, gauss = state["python_rng"]
        self.rng.setstate((version, tuple(internal), gauss))
        torch.set_rng_state(state["torch_rng"])
        if state["cuda_rng"] and torch.cuda.is_available():
            torch.cuda.set_rng_state_all(state["cuda_rng"])


def train(
    model: ReferenceModel,
    dataset: Sequence[TrainingItem],
    *,
    stage: Stage | int,
    epochs: int = 1,
    lr: float | None = None,
    batch_size: int = 16,
    grad_accum: int = 1,
    device: torch.device | None = None,
    amp: bool = False,
    weights: LossWeights = LOSS_WEIGHTS,
    context_dropout: float = CONTEXT_DROPOUT,
    seed: int = 0,
) -> TrainingResult:
    """Train ``model`` in place for ``epochs`` over ``dataset`` in one go (no checkpoints;
    ``inference.training_run`` adds them). Arguments and errors as :class:`StageTrainer`."""
    trainer = StageTrainer(
        model,
        dataset,
        stage=stage,
        epochs=epochs,
        lr=lr,
        batch_size=batch_size,
        grad_accum=grad_accum,
        device=device,
        amp=amp,
        weights=weights,
        context_dropout=context_dropout,
        seed=seed,
    )
    while not trainer.finished:
        trainer.run_epoch()
    return trainer.finish()


@torch.no_grad()
def detection_logits(
    model: ReferenceModel, items: Sequence[TrainingItem], *, batch_size: int = 32
) -> NDArray[np.float32]:
    """(N, 14) raw detection logits of ``items`` (with their context), eval mode."""
    model.eval()
    out = []
    for start in range(0, len(items), batch_size):
        batch = collate(model, items[start : start + batch_size], model.device)
        out.append(model.detection_logits(batch.pixels, batch.prompt_ids).float().cpu().numpy())
    return np.concatenate(out).astype(np.float32)


def fit_calibration(model: ReferenceModel, held_out: Sequence[TrainingItem]) -> Calibration:
    """Fit per-label Platt scaling on held-out items and install it on ``model``."""
    labels = np.stack([item.labels for item in held_out]).astype(np.float32)
    model.calibration = fit_platt(detection_logits(model, held_out), labels)
    return model.calibration


def roc_auc(scores: NDArray[np.float32], targets: NDArray[np.float32]) -> float:
    """Area under the ROC curve of one label (Mann-Whitney U with mid-ranks for ties).

    Raises:
        ValueError: ``targets`` holds only one class.
    """
    values = np.asarray(scores, dtype=np.float64).ravel()
    positive = np.asarray(targets).ravel() > 0.5
    n_pos, n_neg = int(positive.sum()), int((~positive).sum())
    if not n_pos or not n_neg:
        raise ValueError("AUC needs both classes")
    order = np.argsort(values, kind="mergesort")
    ranks = np.empty(len(values), dtype=np.float64)
    ranks[order] = np.arange(1, len(values) + 1)
    for value in np.unique(values):  # mid-ranks for ties
        tied = values == value
        ranks[tied] = ranks[tied].mean()
    return float((ranks[positive].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))
