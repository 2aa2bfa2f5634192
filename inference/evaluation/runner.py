"""Draft every evaluation case with a backend, exactly as the drafting jobs do, and keep
what scoring needs: the head's calibrated probabilities, the draft and the latency.
Imports no Django.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from numpy.typing import NDArray

from inference.backends.base import Backend, StudyInput
from inference.backends.reference import ReferenceBackend
from inference.evaluation.cases import EvalCase
from inference.preprocess import normalise, resize_prepared
from inference.types import Draft


class NotEvaluable(ValueError):
    """The backend has no reference detection head whose probabilities AUC needs."""


@dataclass(frozen=True)
class CaseResult:
    """One system's output on one case.

    probabilities: (14,) float32 in 0..1, the head's calibrated probabilities, LABELS order.
    """

    case_id: str
    probabilities: NDArray[np.float32]
    draft: Draft
    latency_ms: float  # wall time of drafting this study (its share of its batch)

    @property
    def text(self) -> str:
        """Findings then impression: what is compared with the reference report."""
        return f"{self.draft.findings_text} {self.draft.impression}".strip()


def detector_of(backend: Backend) -> ReferenceBackend:
    """The reference detector behind ``backend`` (itself, or its ``detector``).

    Raises:
        NotEvaluable: the backend has none (e.g. hf, whose findings come from its text).
    """
    if isinstance(backend, ReferenceBackend):
        return backend
    detector = getattr(backend, "detector", None)
    if isinstance(detector, ReferenceBackend):
        return detector
    raise NotEvaluable(f"backend {backend.name!r} has no reference detection head to score")


@torch.no_grad()
def head_probabilities(
    detector: ReferenceBackend, studies: Sequence[StudyInput]
) -> NDArray[np.float32]:
    """(N, 14) calibrated probabilities, computed as :class:`ReferenceBackend` detects."""
    model = detector.model
    frontal = [resize_prepared(s.images[0], detector.image_size) for s in studies]
    pixels = torch.from_numpy(np.stack([normalise(p.pixels) for p in frontal])[:, None])
    features = model.encode(pixels.to(detector.device))
    context = model.context_embedding([model.encode_prompt(s.context.as_prompt()) for s in studies])
    probabilities = model.probabilities(model.detect(features, context))
    return probabilities.float().cpu().numpy().astype(np.float32)


def run_system(
    backend: Backend,
    cases: Sequence[EvalCase],
    *,
    batch_size: int = 8,
    progress: Callable[[int, int], None] | None = None,
) -> list[CaseResult]:
    """Draft ``cases`` in batches; latency per study is its batch's wall time / batch size.

    Raises:
        NotEvaluable: see :func:`detector_of`.
    """
    detector = detector_of(backend)
    results: list[CaseResult] = []
    for start in range(0, len(cases), batch_size):
        batch = cases[start : start + batch_size]
        studies = [StudyInput(c.case_id, (c.image,), c.context) for c in batch]
        started = time.perf_counter()
        drafts = backend.predict_batch(studies)
        per_study_ms = (time.perf_counter() - started) * 1000 / len(batch)
        probabilities = head_probabilities(detector, studies)
        for case, draft, row in zip(batch, drafts, probabilities, strict=True):
            results.append(CaseResult(case.case_id, row, draft, per_study_ms))
        if progress is not None:
            progress(len(results), len(cases))
    return results
