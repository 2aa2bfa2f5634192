"""One evaluation run from a model directory to the files on disk (what ``manage.py
evaluate_model`` calls). Imports no Django: the command passes the settings in.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from inference.backends.base import Backend
from inference.backends.reference import ReferenceBackend
from inference.datasets.records import LoadedDataset
from inference.evaluation.baseline import TemplateBaseline
from inference.evaluation.cases import HELD_OUT_FIRST_SEED, EvalCase, phantom_cases, record_cases
from inference.evaluation.evaluate import ModelInfo, evaluate
from inference.evaluation.report import write_evaluation
from inference.evaluation.runner import detector_of
from inference.labels import DEFAULT_CRITICAL_LABELS, Label

DATASETS = ("phantom", "mimic", "iu")
BACKENDS = ("reference", "retrieval")


@dataclass(frozen=True)
class EvaluationRequest:
    model_dir: Path
    out_dir: Path
    backend: str = "reference"  # one of BACKENDS
    dataset: str = "phantom"  # one of DATASETS
    data_dir: Path | None = None  # mimic / iu root
    split: str = "test"  # mimic / iu split, or "all"
    count: int = 200  # phantoms, or at most this many studies
    first_seed: int = HELD_OUT_FIRST_SEED
    baseline: bool = True
    resamples: int = 1000
    seed: int = 0
    batch_size: int = 8
    device: str | None = None
    critical: frozenset[Label] = DEFAULT_CRITICAL_LABELS
    bank_cache_dir: Path | None = None  # retrieval: where the sentence bank is cached
    num_beams: int = 4  # reference: beam width of generation (drafting's default)
    max_new_tokens: int | None = None  # reference: None = the model's report length


def load_model_backend(request: EvaluationRequest) -> Backend:
    """The backend drafting would use for ``request.model_dir``. Raises ``ModelNotLoaded``."""
    if request.backend == "retrieval":
        from inference.backends.retrieval import RetrievalBackend

        return RetrievalBackend(
            request.model_dir,
            request.device,
            critical_labels=request.critical,
            bank_cache_dir=request.bank_cache_dir,
        )
    if request.backend != "reference":
        raise ValueError(f"backend {request.backend!r} cannot be evaluated; use one of {BACKENDS}")
    return ReferenceBackend(
        request.model_dir,
        request.device,
        critical_labels=request.critical,
        num_beams=request.num_beams,
        max_new_tokens=request.max_new_tokens,
    )


def load_cases(
    request: EvaluationRequest, image_size: int, log: Callable[[str], None]
) -> tuple[list[EvalCase], dict[str, Any]]:
    """The case set and its description. Raises ``DatasetError`` for a bad data folder."""
    if request.dataset == "phantom":
        last = request.first_seed + request.count - 1
        log(f"rendering {request.count} held-out phantoms (seeds {request.first_seed}..{last}) ...")
        cases = phantom_cases(request.count, image_size, first_seed=request.first_seed)
        return cases, {
            "kind": "phantom",
            "description": f"held-out phantom radiographs, seeds {request.first_seed}..{last}",
            "first_seed": request.first_seed,
        }
    if request.data_dir is None:
        raise ValueError(f"--data-dir is required for the {request.dataset} data set")
    splits = None if request.split == "all" else {request.split}
    loaded: LoadedDataset
    if request.dataset == "mimic":
        from inference.datasets.mimic import load_mimic

        loaded = load_mimic(request.data_dir, splits=splits)
    elif request.dataset == "iu":
        from inference.datasets.iu import load_iu

        loaded = load_iu(request.data_dir, splits=splits)
    else:
        raise ValueError(f"unknown data set {request.dataset!r}; use one of {DATASETS}")
    log(f"{len(loaded.records)} images read, {len(loaded.skipped)} studies left out")
    for reason in loaded.skipped[:20]:
        log(f"  left out: {reason}")
    cases = record_cases(loaded.records, image_size, limit=request.count)
    return cases, {
        "kind": request.dataset,
        "description": f"{request.dataset} ({request.data_dir}), split {request.split}",
        "skipped": list(loaded.skipped),
    }


def run_evaluation(
    request: EvaluationRequest, log: Callable[[str], None] = print
) -> dict[str, Path]:
    """Load, draft, score and write; returns the written files (json, html, card).

    Raises:
        ModelNotLoaded, DatasetError, NotEvaluable, ValueError: with a message for the user.
    """
    backend = load_model_backend(request)
    detector = detector_of(backend)
    cases, dataset = load_cases(request, detector.image_size, log)
    if not cases:
        raise ValueError("the data set yielded no study to evaluate")
    systems: list[tuple[str, Backend]] = [("model", backend)]
    if request.baseline:
        systems.append(("baseline", TemplateBaseline(detector)))
    evaluation = evaluate(
        systems,
        cases,
        model=ModelInfo.from_card(detector.card, request.backend),
        dataset=dataset,
        critical=request.critical,
        resamples=request.resamples,
        seed=request.seed,
        batch_size=request.batch_size,
        log=log,
    )
    paths = write_evaluation(evaluation, request.out_dir)
    log(f"wrote {', '.join(str(p) for p in paths.values())}")
    return paths
