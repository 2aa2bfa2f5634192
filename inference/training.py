"""Training of the reference model: the same code for tests, the CLI and the workers.

Stages (learning rates in ``inference.registry.STAGE_LEARNING_RATES``):

* 0 - encoder + the detection head's image part, detection BCE only. Our encoders start
  from random weights, so they must learn to see before LLaVA's stage 1 can align them;
  skipped for a pretrained encoder.
* 1 - projector + detection head (LLaVA stage 1: alignment), full loss, LM frozen.
* 2 - projector + language model (LLaVA stage 2: instruction tuning), full loss.

Cosine schedule with a short linear warm-up, gradient accumulation, mixed precision only on
CUDA. Imports no Django.
"""

from __future__ import annotations

import math
import random
import time
from collections.abc import Callable, Sequence
from contextlib import nullcontext
from dataclasses import dataclass
from enum import IntEnum

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
    """Train ``model`` in place for ``epochs`` over ``dataset``.

    Args:
        stage: 0, 1 or 2 (see the module docstring).
        lr: peak learning rate; default the registry's rate for the stage.
        grad_accum: micro-batches per optimiser step (effective batch = batch_size * this).
        device: where to train; default the model's device.
        amp: mixed precision (bfloat16 autocast); ignored unless the device is CUDA.

    Raises:
        ValueError: empty dataset, or batch_size / grad_accum / epochs below 1.
    """
    stage = Stage(stage)
    if not dataset or min(batch_size, grad_accum, epochs) < 1:
        raise ValueError("need a non-empty dataset and batch_size, grad_accum, epochs >= 1")
    device = device or model.device
    model.to(device).train()
    parameters = set_trainable(model, stage)
    optimiser = torch.optim.AdamW(parameters, lr=lr or STAGE_LEARNING_RATES[int(stage)])
    batches_per_epoch = math.ceil(len(dataset) / batch_size)
    total_steps = math.ceil(batches_per_epoch * epochs / grad_accum)
    schedule = torch.optim.lr_scheduler.LambdaLR(optimiser, cosine_with_warmup(total_steps))
    use_amp = amp and device.type == "cuda"
    rng = random.Random(seed)
    torch.manual_seed(seed)
    step_losses: list[float] = []
    epoch_losses: list[float] = []
    started = time.perf_counter()
    micro = 0
    pending = 0.0
    for _ in range(epochs):
        order = list(range(len(dataset)))
        rng.shuffle(order)
        epoch_total = 0.0
        for start in range(0, len(order), batch_size):
            items = [dataset[i] for i in order[start : start + batch_size]]
            batch = collate(model, items, device, context_dropout=context_dropout, rng=rng)
            autocast = torch.autocast("cuda", dtype=torch.bfloat16) if use_amp else nullcontext()
            with autocast:
                loss = model.loss(batch, weights, report=stage is not Stage.ENCODER).total
            (loss / grad_accum).backward()
            pending += float(loss.detach()) / grad_accum
            epoch_total += float(loss.detach()) * len(items)
            micro += 1
            if micro % grad_accum == 0:
                torch.nn.utils.clip_grad_norm_(parameters, MAX_GRAD_NORM)
                optimiser.step()
                optimiser.zero_grad(set_to_none=True)
                schedule.step()
                step_losses.append(pending)
                pending = 0.0
        epoch_losses.append(epoch_total / len(dataset))
    if micro % grad_accum:
        torch.nn.utils.clip_grad_norm_(parameters, MAX_GRAD_NORM)
        optimiser.step()
        optimiser.zero_grad(set_to_none=True)
        step_losses.append(pending * grad_accum / (micro % grad_accum))
    for parameter in model.parameters():
        parameter.requires_grad_(True)
    model.eval()
    return TrainingResult(
        stage=stage,
        step_losses=tuple(step_losses),
        epoch_losses=tuple(epoch_losses),
        seconds=time.perf_counter() - started,
        optimiser_steps=len(step_losses),
    )


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
