"""The one registry of model sizes, label order, loss weights, learning rates and thresholds.

Everything a backend, the trainer or the evaluation needs to agree on lives here; nothing else
hard-codes these numbers. Imports no torch and no Django.
"""

from __future__ import annotations

from dataclasses import dataclass
from types import MappingProxyType
from typing import Final

from inference.labels import DEFAULT_CRITICAL_LABELS, LABELS, Label
from inference.models.config import ReferenceConfig
from inference.types import Severity

__all__ = [
    "BACKENDS",
    "DEFAULT_CRITICAL_LABELS",
    "DEFAULT_THRESHOLDS",
    "LABELS",
    "LOSS_WEIGHTS",
    "MODEL_CARD_INTENDED_USE",
    "REFERENCE_SIZES",
    "SEVERITY_BANDS",
    "STAGE_LEARNING_RATES",
    "BackendEntry",
    "LossWeights",
    "reference_config",
    "severity_for",
    "threshold_for",
]

#: Label order of every detection head (index i of the logits is LABELS[i]).
#: Re-exported so model code reads it from the registry.

#: Written into every model card and shown wherever the model's output shows.
MODEL_CARD_INTENDED_USE: Final = "demonstration model, not for clinical use"


@dataclass(frozen=True)
class LossWeights:
    """Loss = report_nll * NLL + detection_bce * BCE + projector_l2 * ||projector weights||^2."""

    report_nll: float = 1.0
    detection_bce: float = 0.5
    projector_l2: float = 1e-4


LOSS_WEIGHTS: Final = LossWeights()

#: Learning rate per training stage. Stage 0 (encoder + detection head, BCE only) exists
#: because the project's own encoders start from random weights; LLaVA's stage 1 assumes a
#: pretrained encoder. Stage 1: projector + detection head. Stage 2: projector + LM.
STAGE_LEARNING_RATES: Final = MappingProxyType({0: 1e-3, 1: 1e-3, 2: 2e-5})

#: Architectures by size. ``tiny`` trains on two CPU cores in well under a minute (tests);
#: ``large`` loads a pretrained ViT and GPT-2 from the local directories named in its config.
REFERENCE_SIZES: Final = MappingProxyType(
    {
        "tiny": ReferenceConfig(size="tiny"),
        "small": ReferenceConfig(
            size="small",
            image_size=256,
            encoder_channels=(32, 64, 128, 128, 256),
            image_tokens_side=6,
            lm_embd=256,
            lm_layers=4,
            lm_heads=4,
            lm_positions=512,
            vocab_size=4096,
            max_report_tokens=192,
        ),
        "base": ReferenceConfig(
            size="base",
            image_size=512,
            encoder_channels=(32, 64, 128, 256, 384, 512),
            image_tokens_side=8,
            lm_embd=512,
            lm_layers=8,
            lm_heads=8,
            lm_positions=512,
            vocab_size=8192,
            max_report_tokens=256,
        ),
        "large": ReferenceConfig(
            size="large",
            image_size=224,
            encoder="vit",
            vit_hidden=768,
            vit_layers=12,
            vit_heads=12,
            image_tokens_side=7,
            lm_embd=768,
            lm_layers=12,
            lm_heads=12,
            lm_positions=1024,
            max_report_tokens=256,
        ),
    }
)


def reference_config(size: str, **overrides: object) -> ReferenceConfig:
    """The registered config of ``size`` with ``overrides`` (e.g. ``lm_dir=...`` for large).

    Raises:
        KeyError: ``size`` is not registered.
    """
    from dataclasses import replace

    if size not in REFERENCE_SIZES:
        raise KeyError(f"unknown reference model size {size!r}; known: {sorted(REFERENCE_SIZES)}")
    return replace(REFERENCE_SIZES[size], **overrides)  # type: ignore[arg-type]


#: Calibrated probability at or above which a label is reported as present.
DEFAULT_THRESHOLDS: Final = MappingProxyType(dict.fromkeys(LABELS, 0.5))

#: Severity from calibrated confidence, highest band first: a stand-in until the head grades
#: severity itself (the phantom data carries severities to train one).
SEVERITY_BANDS: Final[tuple[tuple[float, Severity], ...]] = (
    (0.9, Severity.SEVERE),
    (0.7, Severity.MODERATE),
    (0.0, Severity.MILD),
)


def threshold_for(label: Label, override: float | None = None) -> float:
    """The decision threshold of ``label``: ``override`` when given, else the default."""
    return float(override) if override is not None else DEFAULT_THRESHOLDS[label]


def severity_for(confidence: float) -> Severity:
    for lower, severity in SEVERITY_BANDS:
        if confidence >= lower:
            return severity
    return SEVERITY_BANDS[-1][1]


@dataclass(frozen=True)
class BackendEntry:
    """Where a backend's class lives (imported lazily, so the registry stays light)."""

    key: str
    import_path: str  # "module:Class"
    description: str


BACKENDS: Final = MappingProxyType(
    {
        "reference": BackendEntry(
            "reference",
            "inference.backends.reference:ReferenceBackend",
            "the project's LLaVA-style model (CNN/ViT encoder, MLP projector, GPT-2 decoder)",
        ),
        "onnx": BackendEntry(
            "onnx",
            "inference.backends.onnx:OnnxBackend",
            "the reference model's detector exported to ONNX Runtime (parity-checked FP32/INT8);"
            " Grad-CAM and generation in PyTorch",
        ),
        "hf": BackendEntry(
            "hf",
            "inference.backends.hf:HFBackend",
            "any local Hugging Face image-text-to-text checkpoint (MedGemma, MAIRA-2, CheXagent,"
            " LLaVA-Rad); findings read from its text by the rule labeller",
        ),
        "retrieval": BackendEntry(
            "retrieval",
            "inference.backends.retrieval:RetrievalBackend",
            "the reference model's findings written up from the IU X-ray sentence bank (MiniLM)",
        ),
    }
)
