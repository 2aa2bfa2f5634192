"""The ``reference`` backend: the project's own model, drafting with evidence.

Pipeline per batch (MONAI Deploy's pre-process / predict / post-process, timed per stage):
preprocess (fit to the model's input size, normalise) -> detect (calibrated probabilities,
thresholds from the registry or the request) -> explain (Grad-CAM heatmap and box per
positive finding, context contribution) -> generate (beam search on image tokens + context
prompt; sentences labelled by the rule labeller for provenance). Imports no Django.
"""

from __future__ import annotations

import functools
import re
import time
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

import numpy as np
import torch

from explainability.boxes import box_from_heatmap
from explainability.contribution import context_contribution
from explainability.gradcam import gradcam
from inference.backends.base import NoFrontalImage, StudyInput
from inference.device import select_device
from inference.labeller import label_report
from inference.labels import DEFAULT_CRITICAL_LABELS, LABELS, Label, Mention
from inference.models.checkpoint import load_reference_model
from inference.models.tokenizer import split_report
from inference.preprocess import normalise, resize_prepared
from inference.registry import severity_for, threshold_for
from inference.types import Draft, Finding, PreparedImage, Sentence

NAME = "reference"
#: Labels never reported as a finding with a box: "No Finding" is the absence of findings.
NOT_A_FINDING = frozenset({Label.NO_FINDING})
GENERATED = "generated"
_SENTENCE = re.compile(r"(?<=[.!?])\s+")


def sentences_from_text(text: str) -> tuple[Sentence, ...]:
    """Generated text -> sentences per section, each labelled with the first finding the rule
    labeller reads in it as present or uncertain (``None``: a normal-region statement)."""
    out = []
    for section, body in split_report(text).items():
        for piece in _SENTENCE.split(body):
            if not piece.strip():
                continue
            mentions = label_report(piece)
            label = next(
                (
                    lab
                    for lab in LABELS
                    if lab not in NOT_A_FINDING
                    and mentions.get(lab) in {Mention.POSITIVE, Mention.UNCERTAIN}
                ),
                None,
            )
            out.append(Sentence(piece.strip(), section, label, GENERATED))
    return tuple(out)


class ReferenceBackend:
    """Implements ``inference.backends.base.Backend``. Load once per worker process
    (:func:`load_backend` caches it).

    Raises ``ModelNotLoaded`` at construction when the model directory is incomplete.
    """

    name = NAME

    def __init__(
        self,
        model_dir: Path | str,
        device: torch.device | str | None = None,
        *,
        critical_labels: Iterable[Label] = DEFAULT_CRITICAL_LABELS,
        thresholds: Mapping[Label, float] | None = None,
        num_beams: int = 4,
        max_new_tokens: int | None = None,
    ) -> None:
        self.device = device if isinstance(device, torch.device) else select_device(device)
        self.model, self.card = load_reference_model(Path(model_dir), self.device)
        self.version = self.card.version
        self.model_name = self.card.name
        self.image_size = self.model.config.image_size  # prepare_image(ds, size=this)
        self.critical_labels = frozenset(critical_labels)
        self.thresholds = dict(thresholds or {})
        self.num_beams = num_beams
        self.max_new_tokens = max_new_tokens

    def _threshold(self, label: Label, override: float | None) -> float:
        return threshold_for(
            label, override if override is not None else self.thresholds.get(label)
        )

    def predict(self, study: StudyInput) -> Draft:
        """Draft one study. Raises ``NoFrontalImage`` when it has no image."""
        return self.predict_batch([study])[0]

    @torch.no_grad()
    def predict_batch(self, studies: Sequence[StudyInput]) -> list[Draft]:
        """Draft several studies; preprocessing and detection run as one batch."""
        drafts = []
        for study, (findings, timings, pixels, features) in zip(
            studies, self._detect(studies), strict=True
        ):
            started = time.perf_counter()
            text = self.model.generate(
                pixels,
                study.context.as_prompt(),
                num_beams=self.num_beams,
                max_new_tokens=self.max_new_tokens,
                features=features,
            )
            timings["generate"] = (time.perf_counter() - started) * 1000
            drafts.append(
                Draft(
                    findings=findings,
                    sentences=sentences_from_text(text),
                    model_name=self.model_name,
                    model_version=self.version,
                    timings_ms=timings,
                )
            )
        return drafts

    @torch.no_grad()
    def detect_batch(
        self, studies: Sequence[StudyInput]
    ) -> list[tuple[tuple[Finding, ...], dict[str, float]]]:
        """Findings (with heatmaps and boxes) of several studies and the timings of their
        stages ("preprocess", "detect", "explain", ms per study), without generating text:
        for backends that write the text another way. Raises ``NoFrontalImage``."""
        return [(findings, timings) for findings, timings, _, _ in self._detect(studies)]

    def _detect(
        self, studies: Sequence[StudyInput]
    ) -> list[tuple[tuple[Finding, ...], dict[str, float], torch.Tensor, torch.Tensor]]:
        """Per study: findings, timings, the model's pixels ``(1, 1, size, size)`` and image
        features, the last two for text generation."""
        if not studies:
            return []
        for study in studies:
            if not study.images:
                raise NoFrontalImage(f"study {study.study_uid} has no frontal image")
        started = time.perf_counter()
        frontal: list[PreparedImage] = [
            resize_prepared(s.images[0], self.image_size) for s in studies
        ]
        pixels = torch.from_numpy(np.stack([normalise(p.pixels) for p in frontal])[:, None])
        pixels = pixels.to(self.device)
        preprocess_ms = (time.perf_counter() - started) * 1000 / len(studies)

        started = time.perf_counter()
        features = self.model.encode(pixels)
        prompts = [self.model.encode_prompt(s.context.as_prompt()) for s in studies]
        context = self.model.context_embedding(prompts)
        probabilities = self.model.probabilities(self.model.detect(features, context)).cpu()
        detect_ms = (time.perf_counter() - started) * 1000 / len(studies)

        out = []
        for i, study in enumerate(studies):
            started = time.perf_counter()
            findings = self._findings(
                study, frontal[i], pixels[i : i + 1], features[i : i + 1], probabilities[i].tolist()
            )
            timings = {
                "preprocess": preprocess_ms,
                "detect": detect_ms,
                "explain": (time.perf_counter() - started) * 1000,
            }
            out.append((findings, timings, pixels[i : i + 1], features[i : i + 1]))
        return out

    def _findings(
        self,
        study: StudyInput,
        prepared: PreparedImage,
        pixels: torch.Tensor,
        features: torch.Tensor,
        probabilities: list[float],
    ) -> tuple[Finding, ...]:
        """The thresholded findings of one study with Grad-CAM heatmaps, boxes and context
        contributions, most confident first."""
        positive = [
            label
            for label, p in zip(LABELS, probabilities, strict=True)
            if label not in NOT_A_FINDING
            and p >= self._threshold(label, study.confidence_threshold)
        ]
        attributions = {a.label: a for a in gradcam(self.model, prepared, positive)}
        contribution = (
            context_contribution(self.model, pixels, study.context, features=features)
            if positive
            else {}
        )
        findings = []
        for label in positive:
            confidence = probabilities[LABELS.index(label)]
            heatmap = attributions[label].heatmap
            findings.append(
                Finding(
                    label=label,
                    confidence=float(confidence),
                    severity=severity_for(confidence),
                    box=box_from_heatmap(heatmap),
                    is_critical=label in self.critical_labels,
                    heatmap=heatmap,
                    context_contribution=contribution.get(label),
                )
            )
        findings.sort(key=lambda f: -f.confidence)
        return tuple(findings)


@functools.cache
def load_backend(model_dir: str, device: str | None = None) -> ReferenceBackend:
    """The process's one :class:`ReferenceBackend` for ``model_dir`` (loaded on first use)."""
    return ReferenceBackend(model_dir, device)
