"""The ``onnx`` backend: detection by ONNX Runtime on a parity-checked export
(``inference.onnx_export``), the rest as the reference backend does it. Imports no Django.

Per batch: preprocess (as ``reference``) -> detect with ONNX Runtime (calibrated
probabilities, thresholds from the registry or the request; the context embedding is a
PyTorch embedding lookup) -> explain: the context contribution is measured on the ONNX
detector (``p(image, context) - p(image, no context)``); Grad-CAM heatmaps and boxes come from
the PyTorch model, because they need gradients that ONNX Runtime does not give — parity has
shown the two compute the same detector within tolerance -> generate: PyTorch beam search on
image tokens made from the ONNX feature map. So the PyTorch weights are loaded too, and the
speed-up is in detection only (``inference.onnx_export.detection_latency``).
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch

from explainability.boxes import box_from_heatmap
from explainability.gradcam import gradcam
from inference.backends.base import ModelNotLoaded, NoFrontalImage, StudyInput
from inference.backends.reference import NOT_A_FINDING, sentences_from_text
from inference.device import select_device
from inference.labels import DEFAULT_CRITICAL_LABELS, LABELS, Label
from inference.models.checkpoint import load_reference_model
from inference.models.reference import NO_CONTEXT_PROMPT
from inference.onnx_export import DETECTOR_FILES, open_session, read_manifest, run_detector
from inference.preprocess import normalise, resize_prepared
from inference.registry import severity_for, threshold_for
from inference.types import Draft, Finding, PreparedImage

NAME = "onnx"
Precision = Literal["fp32", "int8"]


def providers_for(device: torch.device) -> list[Any]:
    """ONNX Runtime providers: CUDA (on the device's index) when the device is CUDA and the
    installed onnxruntime has it, the CPU always as the fallback.

    TF32 is switched off: parity was measured on the CPU provider to 1e-4, and TF32's 10-bit
    mantissa in convolutions could exceed that on Ampere and later GPUs."""
    import onnxruntime as ort

    if device.type == "cuda" and "CUDAExecutionProvider" in ort.get_available_providers():
        options = {"device_id": device.index or 0, "use_tf32": 0}
        return [("CUDAExecutionProvider", options), "CPUExecutionProvider"]
    return ["CPUExecutionProvider"]


class OnnxBackend:
    """Implements ``inference.backends.base.Backend``. Load once per worker process.

    ``model_dir`` is an ``export_onnx`` output directory. Raises ``ModelNotLoaded`` at
    construction when it has no manifest, ``precision`` did not pass parity, or a file changed
    since the parity check.
    """

    name = NAME

    def __init__(
        self,
        model_dir: Path | str,
        device: torch.device | str | None = None,
        *,
        critical_labels: Iterable[Label] = DEFAULT_CRITICAL_LABELS,
        thresholds: Mapping[Label, float] | None = None,
        precision: Precision = "fp32",
        num_beams: int = 4,
        max_new_tokens: int | None = None,
    ) -> None:
        if precision not in DETECTOR_FILES:
            raise ModelNotLoaded(f"model not loaded: unknown onnx precision {precision!r}")
        directory = Path(model_dir)
        self.manifest = read_manifest(directory, precision)
        self.device = device if isinstance(device, torch.device) else select_device(device)
        self.model, self.card = load_reference_model(directory, self.device)
        self.precision = precision
        self.session = open_session(
            directory / DETECTOR_FILES[precision], providers_for(self.device)
        )
        self.version = f"{self.card.version}+onnx-{precision}"
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

    @torch.no_grad()
    def _context(self, prompts: Sequence[str]) -> np.ndarray:
        ids = [self.model.encode_prompt(prompt) for prompt in prompts]
        embedding: np.ndarray = self.model.context_embedding(ids).float().cpu().numpy()
        return embedding

    def _probabilities(self, logits: np.ndarray) -> np.ndarray:
        calibrated = self.model.calibration.apply(torch.from_numpy(logits))
        probabilities: np.ndarray = calibrated.float().numpy()
        return probabilities

    def detect(self, pixels: np.ndarray, prompts: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        """Calibrated probabilities (N, 14) and feature maps (N, C, h, w) from ONNX Runtime.

        ``pixels``: (N, 1, S, S) float32 normalised model input; ``prompts``: N prompts.
        """
        logits, features = run_detector(self.session, pixels, self._context(prompts))
        return self._probabilities(logits), features

    def predict(self, study: StudyInput) -> Draft:
        """Draft one study. Raises ``NoFrontalImage`` when it has no image."""
        return self.predict_batch([study])[0]

    def predict_batch(self, studies: Sequence[StudyInput]) -> list[Draft]:
        """Draft several studies; preprocessing and detection run as one batch."""
        drafts = []
        for study, (findings, timings, pixels, features) in zip(
            studies, self._detect(studies), strict=True
        ):
            started = time.perf_counter()
            with torch.no_grad():
                text = self.model.generate(
                    torch.from_numpy(pixels).to(self.device),
                    study.context.as_prompt(),
                    num_beams=self.num_beams,
                    max_new_tokens=self.max_new_tokens,
                    features=torch.from_numpy(features).to(self.device),
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

    def detect_batch(
        self, studies: Sequence[StudyInput]
    ) -> list[tuple[tuple[Finding, ...], dict[str, float]]]:
        """Findings (with heatmaps and boxes) and stage timings ("preprocess", "detect",
        "explain", ms per study) without text, as ``ReferenceBackend.detect_batch``.
        Raises ``NoFrontalImage``."""
        return [(findings, timings) for findings, timings, _, _ in self._detect(studies)]

    def _detect(
        self, studies: Sequence[StudyInput]
    ) -> list[tuple[tuple[Finding, ...], dict[str, float], np.ndarray, np.ndarray]]:
        """Per study: findings, timings, model pixels (1, 1, S, S) and ONNX feature map."""
        if not studies:
            return []
        for study in studies:
            if not study.images:
                raise NoFrontalImage(f"study {study.study_uid} has no frontal image")
        started = time.perf_counter()
        frontal = [resize_prepared(s.images[0], self.image_size) for s in studies]
        pixels = np.ascontiguousarray(np.stack([normalise(p.pixels) for p in frontal])[:, None])
        preprocess_ms = (time.perf_counter() - started) * 1000 / len(studies)

        started = time.perf_counter()
        probabilities, features = self.detect(pixels, [s.context.as_prompt() for s in studies])
        detect_ms = (time.perf_counter() - started) * 1000 / len(studies)
        out = []
        for i, study in enumerate(studies):
            started = time.perf_counter()
            findings = self._findings(study, frontal[i], pixels[i : i + 1], probabilities[i])
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
        pixels: np.ndarray,
        probabilities: np.ndarray,
    ) -> tuple[Finding, ...]:
        """Positive findings of one study, most confident first. The context contribution is
        ``p(image, context) - p(image, no context)`` on the ONNX detector (as
        ``explainability.contribution`` on PyTorch); heatmaps are PyTorch Grad-CAM."""
        values = [float(p) for p in probabilities]
        positive = [
            label
            for label, p in zip(LABELS, values, strict=True)
            if label not in NOT_A_FINDING
            and p >= self._threshold(label, study.confidence_threshold)
        ]
        if not positive:
            return ()
        attributions = {a.label: a for a in gradcam(self.model, prepared, positive)}
        without, _ = self.detect(pixels, [NO_CONTEXT_PROMPT])
        findings = []
        for label in positive:
            index = LABELS.index(label)
            heatmap = attributions[label].heatmap
            findings.append(
                Finding(
                    label=label,
                    confidence=values[index],
                    severity=severity_for(values[index]),
                    box=box_from_heatmap(heatmap),
                    is_critical=label in self.critical_labels,
                    heatmap=heatmap,
                    context_contribution=values[index] - float(without[0, index]),
                )
            )
        return tuple(sorted(findings, key=lambda f: -f.confidence))
