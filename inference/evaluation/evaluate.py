"""Evaluate a model and the template baseline on one case set: the JSON document and plots.

Every system drafts the same cases, and every interval uses the same bootstrap resamples, so
model and baseline are compared pairwise. Imports no Django.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from inference.backends.base import Backend
from inference.evaluation import scoring
from inference.evaluation.cases import EvalCase
from inference.evaluation.metrics import resample_indices
from inference.evaluation.runner import detector_of, run_system
from inference.labels import LABELS, Label
from inference.models.checkpoint import ModelCard
from inference.registry import threshold_for

#: The words that mark a demonstration model in its card's intended use.
DEMONSTRATION_MARK = "not for clinical use"


@dataclass(frozen=True)
class ModelInfo:
    """What the report says about the evaluated model (from its model card)."""

    name: str
    version: str
    demonstration: bool
    intended_use: str
    training_data: str
    backend: str
    size: str = ""
    parameters: int = 0

    @classmethod
    def from_card(cls, card: ModelCard, backend: str) -> ModelInfo:
        return cls(
            name=card.name,
            version=card.version,
            demonstration=DEMONSTRATION_MARK in card.intended_use.lower(),
            intended_use=card.intended_use,
            training_data=card.training_data,
            backend=backend,
            size=card.size,
            parameters=card.parameters,
        )

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "version": self.version,
            "demonstration": self.demonstration,
            "intended_use": self.intended_use,
            "training_data": self.training_data,
            "backend": self.backend,
            "size": self.size,
            "parameters": self.parameters,
        }


@dataclass(frozen=True)
class Evaluation:
    document: dict[str, Any]  # evaluation.json
    plots: dict[str, bytes]  # the model's figures, PNG


def evaluate(
    systems: Sequence[tuple[str, Backend]],
    cases: Sequence[EvalCase],
    *,
    model: ModelInfo,
    dataset: dict[str, Any],
    critical: frozenset[Label],
    resamples: int = 1000,
    seed: int = 0,
    batch_size: int = 8,
    log: Callable[[str], None] = print,
) -> Evaluation:
    """Draft ``cases`` with each ``(role, backend)`` (the first is the model), score them.

    Raises:
        ValueError: no cases or no systems; ``NotEvaluable`` for a backend without a
            reference detection head.
    """
    from inference.evaluation.plots import all_plots

    if not cases or not systems:
        raise ValueError("need at least one case and one system to evaluate")
    draws = resample_indices(len(cases), resamples, seed)
    documents: dict[str, Any] = {}
    plots: dict[str, bytes] = {}
    thresholds_used: dict[str, float] = {}
    for index, (role, backend) in enumerate(systems):
        detector = detector_of(backend)
        thresholds = np.array(
            [threshold_for(label, detector.thresholds.get(label)) for label in LABELS],
            dtype=np.float32,
        )
        thresholds_used = {
            label.value: float(t) for label, t in zip(LABELS, thresholds, strict=True)
        }
        log(f"[{role}] drafting {len(cases)} studies with {backend.name} {backend.version} ...")

        def progress(done: int, total: int, role: str = role) -> None:
            log(f"[{role}] drafted {done}/{total}")

        results = run_system(backend, cases, batch_size=batch_size, progress=progress)
        figures, scored = scoring.score_system(
            cases, results, thresholds=thresholds, critical=critical, draws=draws, log=log
        )
        documents[role] = {"name": backend.name, "version": backend.version, **figures}
        if index == 0:
            plots = all_plots(scored)
    first = documents[systems[0][0]]
    return Evaluation(
        document={
            "created": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            "model": model.as_dict(),
            "dataset": {**dataset, "cases": len(cases)},
            "settings": {
                "bootstrap_resamples": resamples,
                "bootstrap_seed": seed,
                "batch_size": batch_size,
                "critical_labels": sorted(label.value for label in critical),
                "thresholds": thresholds_used,
            },
            "summary": first["summary"],
            "intervals": first["intervals"],
            "systems": documents,
            "definitions": (scoring.__doc__ or "").strip(),
        },
        plots=plots,
    )
