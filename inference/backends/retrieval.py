"""The ``retrieval`` backend: the reference model's findings, written up in real radiologists'
sentences (SPEC section 4).

Pipeline per batch: the reference model's preprocess -> detect -> explain
(:meth:`ReferenceBackend.detect_batch`: calibrated probabilities, thresholds, Grad-CAM
heatmap and box per positive finding) -> compose (:class:`RetrievalDrafter` chooses
sentences from the sentence bank by the findings and the clinical context; every sentence
carries its source, ``iu-xray:<report>`` or ``rule:<name>``). No text is generated, so no
sentence states what the head did not find. Imports no Django.
"""

from __future__ import annotations

import time
from collections.abc import Hashable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import cast

import torch

from inference.backends.base import ModelNotLoaded, StudyInput
from inference.backends.reference import ReferenceBackend
from inference.drafting.encoder import SentenceEncoder
from inference.drafting.retrieval import RetrievalDrafter
from inference.iu_reports import IUReportsUnavailable
from inference.labels import DEFAULT_CRITICAL_LABELS, Label
from inference.sentence_bank import SentenceBank, load_iu_bank
from inference.types import Draft

NAME = "retrieval"
VERSION_SUFFIX = "+retrieval"
BANK_DIR_NAME = "sentence-bank"  # default cache of the bank, inside the model directory


class RetrievalBackend:
    """Implements ``inference.backends.base.Backend``. Load once per worker process (the
    Django edge caches it); the IU bank itself is loaded once per process by
    :func:`load_iu_bank`.

    Args:
        model_dir: the reference model's directory (detection and explanation).
        device: as for :class:`ReferenceBackend`; None picks one.
        critical_labels, thresholds: as for :class:`ReferenceBackend`.
        bank: the sentence bank; None loads the IU X-ray bank from ``bank_cache_dir``
            (built and saved there on first use, minutes on CPU).
        bank_cache_dir: where the IU bank is cached; default ``model_dir / "sentence-bank"``.
        encoder: the encoder ``bank`` was embedded with; None uses the process's MiniLM.

    Raises:
        ModelNotLoaded: the model directory is incomplete, the IU reports (torchxrayvision)
            or the MiniLM encoder are missing.
        ValueError: ``encoder`` is not the encoder ``bank`` was embedded with.
    """

    name = NAME

    def __init__(
        self,
        model_dir: Path | str,
        device: torch.device | str | None = None,
        *,
        critical_labels: Iterable[Label] = DEFAULT_CRITICAL_LABELS,
        thresholds: Mapping[Label, float] | None = None,
        bank: SentenceBank | None = None,
        bank_cache_dir: Path | None = None,
        encoder: SentenceEncoder | None = None,
    ) -> None:
        self.detector = ReferenceBackend(
            model_dir, device, critical_labels=critical_labels, thresholds=thresholds
        )
        self.version = self.detector.version + VERSION_SUFFIX
        self.model_name = self.detector.model_name
        self.image_size = self.detector.image_size  # prepare_image(ds, size=this)
        if bank is None:
            cache_dir = bank_cache_dir or Path(model_dir) / BANK_DIR_NAME
            try:
                # The per-process cache keys on the encoder object (hashed by identity).
                bank = load_iu_bank(Path(cache_dir), cast("Hashable", encoder))
            except IUReportsUnavailable as error:
                raise ModelNotLoaded(f"model not loaded: sentence bank: {error}") from error
        self.bank = bank
        self.drafter = RetrievalDrafter(bank, encoder)

    def predict(self, study: StudyInput) -> Draft:
        """Draft one study. Raises ``NoFrontalImage`` when it has no image."""
        return self.predict_batch([study])[0]

    def predict_batch(self, studies: Sequence[StudyInput]) -> list[Draft]:
        """Draft several studies: detection in one batch, then one composition per study.

        Timings (ms per study): "preprocess", "detect", "explain", "compose".
        Raises ``NoFrontalImage`` when a study has no image.
        """
        drafts = []
        for study, (findings, timings) in zip(
            studies, self.detector.detect_batch(studies), strict=True
        ):
            started = time.perf_counter()
            sentences = self.drafter.compose(findings, study.context, study.report_template)
            timings["compose"] = (time.perf_counter() - started) * 1000
            drafts.append(
                Draft(
                    findings=findings,
                    sentences=sentences,
                    model_name=self.model_name,
                    model_version=self.version,
                    timings_ms=timings,
                )
            )
        return drafts
